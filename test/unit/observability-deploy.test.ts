// The Grafana dashboard and the Prometheus alert rules (deploy/grafana, deploy/prometheus) parse,
// and every query in them names only metrics docs/metrics.md documents (so a renamed metric breaks
// this test, not a dashboard at 3 a.m.); each alert the operations story needs is there, with a
// runbook line.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { documentedMetrics } from '../support/prom-text.js';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');
const DOCUMENTED = documentedMetrics(read('docs/metrics.md'));

// PromQL words that are not metric names (aggregations, operators, modifiers).
const KEYWORDS = new Set(
  'by without on ignoring group_left group_right bool and or unless offset sum min max avg count stddev stdvar topk bottomk quantile count_values group'.split(
    ' ',
  ),
);

/** The metric names a PromQL expression reads. */
function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings (label values, template variables)
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
    .replace(/\$\w+/g, ''); // Grafana variables
  const out: string[] = [];
  for (const m of bare.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name = '', call] = m;
    if (call !== undefined || KEYWORDS.has(name) || /^\d/.test(name)) continue;
    out.push(name);
  }
  return out;
}

/** A documented family, allowing the _bucket / _sum / _count series of a histogram. */
function documented(name: string): boolean {
  return DOCUMENTED.has(name) || DOCUMENTED.has(name.replace(/_(bucket|sum|count)$/, ''));
}

interface Panel {
  title?: string;
  type: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

describe('deploy/grafana/raftq.json', () => {
  const dash = JSON.parse(read('deploy/grafana/raftq.json')) as {
    uid: string;
    title: string;
    panels: Panel[];
    templating: { list: { name: string; query?: unknown; definition?: string }[] };
  };
  const panels = dash.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');

  it('is a dashboard whose every panel queries documented metrics', () => {
    expect(dash.uid).toBe('raftq');
    expect(panels.length).toBeGreaterThan(10);
    const used = new Set<string>();
    for (const p of panels) {
      expect(p.targets?.length, `panel "${p.title}" has no query`).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        const names = metricsIn(t.expr);
        expect(names.length, `"${t.expr}" reads no metric`).toBeGreaterThan(0);
        for (const n of names) {
          expect(documented(n), `panel "${p.title}": ${n} is not in docs/metrics.md`).toBe(true);
          used.add(n);
        }
      }
    }
    for (const v of dash.templating.list.filter((v) => v.definition !== undefined)) {
      for (const n of (v.definition ?? '').match(/label_values\((\w+)/)?.slice(1) ?? [])
        expect(documented(n)).toBe(true);
    }
    // The headline series are on the dashboard.
    for (const n of [
      'raftq_raft_is_leader',
      'raftq_tasks',
      'raftq_fsync_seconds_bucket',
      'raftq_queue_wait_seconds_bucket',
    ])
      expect(used).toContain(n);
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  const rules = (
    parse(read('deploy/prometheus/alerts.yml')) as {
      groups: {
        name: string;
        rules: { alert: string; expr: string; for?: string; annotations?: Record<string, string> }[];
      }[];
    }
  ).groups.flatMap((g) => g.rules);

  it('has the alerts operators need, each with a runbook line', () => {
    const names = rules.map((r) => r.alert);
    for (const a of [
      'RaftqNoLeader',
      'RaftqFollowerLagging',
      'RaftqDeadLettersGrowing',
      'RaftqFsyncSlow',
      'RaftqNodeRecovering',
      'RaftqDiskNearlyFull',
    ])
      expect(names).toContain(a);
    expect(new Set(names).size).toBe(names.length);
    for (const r of rules) {
      expect(r.annotations?.['runbook']?.length ?? 0, `${r.alert} has no runbook`).toBeGreaterThan(20);
      expect(r.annotations?.['summary'], `${r.alert} has no summary`).toBeDefined();
      expect(r.for, `${r.alert} has no for:`).toMatch(/^\d+[smh]$/);
    }
  });

  it('names only documented metrics in its expressions', () => {
    for (const r of rules) {
      const names = metricsIn(r.expr);
      expect(names.length, `${r.alert} reads no metric`).toBeGreaterThan(0);
      for (const n of names) expect(documented(n), `${r.alert}: ${n} is not in docs/metrics.md`).toBe(true);
    }
  });

  it('extracts metric names from PromQL the way the checks above rely on', () => {
    expect(
      metricsIn(
        'histogram_quantile(0.99, sum by (instance, le) (rate(raftq_fsync_seconds_bucket{instance=~"$instance"}[5m]))) > 0.1',
      ),
    ).toEqual(['raftq_fsync_seconds_bucket']);
    expect(metricsIn('max(raftq_raft_is_leader) < 1 or absent(raftq_raft_is_leader)')).toEqual([
      'raftq_raft_is_leader',
      'raftq_raft_is_leader',
    ]);
    expect(metricsIn('a_total / on (instance) b_bytes offset 5m')).toEqual(['a_total', 'b_bytes']);
    expect(documented('raftq_no_such_metric')).toBe(false);
  });
});
