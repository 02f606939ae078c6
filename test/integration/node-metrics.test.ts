// Every metric the node declares moves when what it counts happens (architecture issue §1, issue
// #15): tasks per queue and state, proposals and failed proposals, and each queue metric (enqueue,
// lease, ack, nack to dead letter, lease expiry, latencies, oldest waiting age); /metrics parses
// with a strict text-format parser and every series in it is documented in docs/metrics.md; the
// status reports the election timeout; every alert rule selects series the nodes really serve, with
// the labels and label values it names (a rule on a misspelt event would never fire). The
// quorum-loss test stops the followers: it runs last.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Client } from '../../src/client/index.js';
import { clusterPerFile, type TestCluster } from '../support/cluster.js';
import { documentedMetrics, parsePromText, sampleValue, type PromFamily } from '../support/prom-text.js';
import { httpJson, waitFor } from './helpers.js';

const fx = clusterPerFile(3);
let tc: TestCluster;
let leader: string;
let client: Client;

beforeAll(() => {
  tc = fx.tc;
  leader = fx.leader;
  client = fx.client({ timeoutMs: 10_000 });
});

/** One node's /metrics, parsed (strictly: a malformed exposition fails the test). */
async function scrape(id: string): Promise<Map<string, PromFamily>> {
  const res = await fetch(`http://127.0.0.1:${tc.cluster.spec(id).httpPort}/metrics`);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePromText(await res.text());
}

/** One sample of a node's /metrics (0 when the series is absent). */
async function metric(id: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return sampleValue(await scrape(id), name, labels) ?? 0;
}

describe('node metrics', () => {
  it('counts tasks, proposals, expired leases and dead letters', async () => {
    const proposed = await metric(leader, 'raftq_proposals_total');
    const calls = await metric(leader, 'raftq_command_commit_seconds_count');
    const callSeconds = await metric(leader, 'raftq_command_commit_seconds_sum');
    await client.command({ type: 'createQueue', queue: 'm', settings: { maxDeliveries: 1 } });
    await client.command({ type: 'enqueue', queue: 'm', tasks: [{ payload: new Uint8Array([1]) }] });
    expect(await metric(leader, 'raftq_tasks', { queue: 'm', state: 'waiting' })).toBe(1);
    expect(await metric(leader, 'raftq_proposals_total')).toBeGreaterThanOrEqual(proposed + 2);
    // Each call's proposal → answer time on the leader: a commit takes a replicated fsync, never 0.
    expect(await metric(leader, 'raftq_command_commit_seconds_count')).toBeGreaterThanOrEqual(calls + 2);
    expect(await metric(leader, 'raftq_command_commit_seconds_sum')).toBeGreaterThan(callSeconds);
    const leased = await client.command({ type: 'lease', queue: 'm', workerId: 'w', max: 1, leaseMs: 300 });
    expect(JSON.stringify(leased.reply)).toContain('token');
    expect(await metric(leader, 'raftq_tasks', { queue: 'm', state: 'leased' })).toBe(1);
    // Nobody extends: the lease expires and, with maxDeliveries 1, the task is dead-lettered.
    await waitFor(
      async () => ((await metric(leader, 'raftq_tasks', { queue: 'm', state: 'dead' })) === 1 ? true : undefined),
      10_000,
      'the task to be dead-lettered',
    );
    expect(await metric(leader, 'raftq_leases_expired_total')).toBeGreaterThanOrEqual(1);
    expect(await metric(leader, 'raftq_dead_lettered_total')).toBeGreaterThanOrEqual(1);
    expect(await metric(leader, 'raftq_tasks', { queue: 'm', state: 'leased' })).toBe(0);
  });

  it("exports the state machine's counters and the election timeout", async () => {
    const text = await (await fetch(`http://127.0.0.1:${tc.cluster.spec(leader).httpPort}/metrics`)).text();
    for (const c of ['undecodable', 'stale', 'internalErrors', 'transitionsDeferred']) {
      expect(text).toMatch(new RegExp(`^raftq_statemachine_events_total\\{counter="${c}"\\} \\d+$`, 'm'));
    }
    expect(await metric(leader, 'raftq_statemachine_events_total', { counter: 'internalErrors' })).toBe(0);
    const st = await httpJson<{ electionTimeoutMs?: { min: number; max: number } }>(
      tc.cluster.spec(leader).httpPort,
      '/status',
    );
    // startCluster: 50 ms ticks, 10 election ticks.
    expect(st.electionTimeoutMs).toEqual({ min: 500, max: 1000 });
  });

  it('serves only documented metrics, and documents no metric it does not serve', async () => {
    const documented = documentedMetrics(readFileSync(resolve(import.meta.dirname, '../../docs/metrics.md'), 'utf8'));
    const follower = tc.cluster.specs.map((s) => s.id).find((id) => id !== leader) as string;
    const seen = new Set<string>();
    for (const id of [leader, follower]) {
      for (const f of (await scrape(id)).values()) {
        expect(documented, `${f.name} (on ${id}) is not in docs/metrics.md`).toContain(f.name);
        expect(f.help, `${f.name} has no HELP`).not.toBe('');
        seen.add(f.name);
      }
    }
    for (const name of documented) if (name.startsWith('raftq_')) expect(seen, `${name} is not served`).toContain(name);
    const families = await scrape(leader);
    expect(families.get('raftq_build_info')?.samples[0]?.labels['version']).toMatch(/^\d+\.\d+\.\d+/);
    expect(families.get('process_cpu_seconds_total')?.type).toBe('counter');
    expect(families.get('nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
    expect(sampleValue(families, 'raftq_raft_has_leader')).toBe(1);
    expect(sampleValue(families, 'raftq_disk_total_bytes')).toBeGreaterThan(0);
    for (const peer of tc.cluster.specs.map((s) => s.id).filter((id) => id !== leader)) {
      expect(sampleValue(families, 'raftq_peer_reachable', { peer })).toBe(1);
      expect(sampleValue(families, 'raftq_peer_raw_stream', { peer })).toBe(1);
    }
  });

  it('moves each queue metric: enqueue, wait, lease, ack, nack to dead letter, lease expiry', async () => {
    const q = 'moves';
    const ql = { queue: q };
    const before = await scrape(leader);
    const at = (name: string, labels: Record<string, string> = {}): number => sampleValue(before, name, labels) ?? 0;
    await client.command({ type: 'createQueue', queue: q, settings: { maxDeliveries: 1 } });
    expect(await metric(leader, 'raftq_queues')).toBe(at('raftq_queues') + 1);
    const payload = new Uint8Array([7]);
    await client.command({ type: 'enqueue', queue: q, tasks: [{ payload }, { payload }, { payload }] });
    let now = await scrape(leader);
    expect(sampleValue(now, 'raftq_tasks_enqueued_total')).toBe(at('raftq_tasks_enqueued_total') + 3);
    expect(sampleValue(now, 'raftq_queue_events_total', { ...ql, event: 'enqueued' })).toBe(3);
    expect(sampleValue(now, 'raftq_tasks', { ...ql, state: 'waiting' })).toBe(3);
    // The cluster is idle now: the oldest waiting age must still grow.
    const age0 = sampleValue(now, 'raftq_queue_oldest_waiting_age_seconds', ql) ?? 0;
    await waitFor(
      async () =>
        (await metric(leader, 'raftq_queue_oldest_waiting_age_seconds', ql)) > age0 + 0.3 ? true : undefined,
      10_000,
      'the oldest waiting age to grow while idle',
    );
    // So do the SDK's reads: the leader computes ages at its current log clock, not at the last
    // entry's stamps (issue 15), so two reads tell the time between them even when nothing is appended.
    const age1 = (await client.queue(q).stats()).oldestWaitingAgeMs ?? -1;
    const after1 = performance.now();
    await new Promise((r) => setTimeout(r, 800)); // time passing is what is measured here
    const before2 = performance.now();
    const age2 = (await client.queue(q).stats()).oldestWaitingAgeMs ?? -1;
    expect(age1).toBeGreaterThan(0);
    expect(age2 - age1).toBeGreaterThanOrEqual(Math.floor(before2 - after1) - 5);
    const lease = async (leaseMs: number): Promise<{ id: string; token: string }> => {
      const { reply } = await client.command({ type: 'lease', queue: q, workerId: 'w', max: 1, leaseMs });
      const t = (reply['tasks'] as { id: string; token: string }[])[0];
      expect(t).toBeDefined();
      return t as { id: string; token: string };
    };
    const a = await lease(30_000);
    now = await scrape(leader);
    expect(sampleValue(now, 'raftq_queue_events_total', { ...ql, event: 'leased' })).toBe(1);
    expect(sampleValue(now, 'raftq_queue_wait_seconds_count', ql)).toBe(1);
    expect(sampleValue(now, 'raftq_queue_wait_seconds_sum', ql)).toBeGreaterThan(0.3);
    expect(sampleValue(now, 'raftq_tasks', { ...ql, state: 'leased' })).toBe(1);
    await client.command({ type: 'ack', items: [a] });
    now = await scrape(leader);
    expect(sampleValue(now, 'raftq_tasks_completed_total')).toBe(at('raftq_tasks_completed_total') + 1);
    expect(sampleValue(now, 'raftq_task_run_seconds_count', ql)).toBe(1);
    expect(sampleValue(now, 'raftq_queue_events_total', { ...ql, event: 'completed' })).toBe(1);
    expect(sampleValue(now, 'raftq_statemachine_events_total', { counter: 'completed' })).toBe(
      at('raftq_statemachine_events_total', { counter: 'completed' }) + 1,
    );
    expect(sampleValue(now, 'raftq_tasks', { ...ql, state: 'completed' })).toBe(1);
    const b = await lease(30_000);
    await client.command({ type: 'nack', id: b.id, token: b.token, error: 'boom', dead: true });
    now = await scrape(leader);
    expect(sampleValue(now, 'raftq_tasks_nacked_total')).toBe(at('raftq_tasks_nacked_total') + 1);
    expect(sampleValue(now, 'raftq_dead_lettered_total')).toBe(at('raftq_dead_lettered_total') + 1);
    expect(sampleValue(now, 'raftq_queue_events_total', { ...ql, event: 'dead' })).toBe(1);
    // The last one: nobody extends, the lease expires and (maxDeliveries 1) the task dies.
    await lease(200);
    await waitFor(
      async () => ((await metric(leader, 'raftq_tasks', { ...ql, state: 'dead' })) === 2 ? true : undefined),
      10_000,
      'the expired lease to kill the task',
    );
    now = await scrape(leader);
    expect(sampleValue(now, 'raftq_leases_expired_total')).toBe(at('raftq_leases_expired_total') + 1);
    expect(sampleValue(now, 'raftq_dead_lettered_total')).toBe(at('raftq_dead_lettered_total') + 2);
    // An expiry that kills the task is told as its death (event "dead"), not as lease_expired.
    expect(sampleValue(now, 'raftq_queue_events_total', { ...ql, event: 'dead' })).toBe(2);
    expect(sampleValue(now, 'raftq_queue_oldest_waiting_age_seconds', ql)).toBe(0);
    // Each death is in the node's log too (info), with the queue, the task and the reason.
    const deaths = await waitFor(
      async () => {
        const found = (tc.lines.get(leader) ?? []).filter(
          (l) => l.includes('"task dead-lettered"') && l.includes(`"queue":"${q}"`),
        );
        return found.length === 2 ? found.map((l) => JSON.parse(l) as Record<string, unknown>) : undefined;
      },
      10_000,
      'two dead-letter log lines',
    );
    expect(deaths.map((d) => d['reason']).sort()).toEqual(['max_deliveries', 'nacked_dead']);
  });

  it('selects, in every alert rule, series the node serves with the labels and values the rule names', async () => {
    // After the tests above (a task died, so event="dead" exists). Prometheus adds instance and job.
    const served = new Map<string, PromFamily>();
    for (const id of tc.cluster.specs.map((x) => x.id)) {
      for (const [n, f] of await scrape(id)) {
        const seen = served.get(n);
        served.set(n, seen === undefined ? f : { ...seen, samples: [...seen.samples, ...f.samples] });
      }
    }
    const family = (name: string): PromFamily | undefined =>
      served.get(name) ?? served.get(name.replace(/_(bucket|sum|count)$/, ''));
    const alerts = (
      parse(readFileSync(resolve(import.meta.dirname, '../../deploy/prometheus/alerts.yml'), 'utf8')) as {
        groups: { rules: { alert: string; expr: string }[] }[];
      }
    ).groups.flatMap((g) => g.rules);
    expect(alerts.length).toBeGreaterThan(5);
    for (const { alert, expr } of alerts) {
      const selectors = [...expr.matchAll(/\b((?:raftq|process|nodejs)_[a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g)];
      expect(selectors.length, alert).toBeGreaterThan(0);
      const labels = new Set(['instance', 'job']);
      for (const [, name = '', matchers = ''] of selectors) {
        const f = family(name);
        expect(f, `${alert}: ${name} is not served`).toBeDefined();
        const samples = (f?.samples ?? []).filter((x) => x.name === name || !served.has(name));
        for (const x of samples) for (const l of Object.keys(x.labels)) labels.add(l);
        for (const [, label = '', op, value = ''] of matchers.matchAll(/(\w+)\s*(=~|!=|!~|=)\s*"([^"]*)"/g)) {
          const has = samples.some((x) => (op === '=' ? x.labels[label] === value : label in x.labels));
          expect(has, `${alert}: no ${name} series with ${label}${op}"${value}"`).toBe(true);
        }
      }
      for (const [, list = ''] of expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) {
        for (const l of list
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean))
          expect(labels.has(l), `${alert}: label ${l} is on none of its series`).toBe(true);
      }
    }
  });

  it('counts a proposal that fails because the leader lost its quorum', async () => {
    const followers = tc.cluster.specs.map((s) => s.id).filter((id) => id !== leader);
    const before = await metric(leader, 'raftq_proposals_failed_total', { reason: 'leadership-lost' });
    for (const f of followers) await tc.cluster.signal(f, 'SIGSTOP');
    try {
      const lonely = new Client({ servers: [`127.0.0.1:${tc.cluster.spec(leader).clientPort}`], timeoutMs: 3_000 });
      // The leader proposes, cannot commit, and steps down at its election timeout (checkQuorum).
      await lonely.command({ type: 'createQueue', queue: 'lost' }).catch(() => undefined);
      await lonely.close();
      await waitFor(
        async () =>
          (await metric(leader, 'raftq_proposals_failed_total', { reason: 'leadership-lost' })) > before
            ? true
            : undefined,
        10_000,
        'a failed proposal to be counted',
      );
    } finally {
      for (const f of followers) await tc.cluster.signal(f, 'SIGCONT');
    }
  });
});
