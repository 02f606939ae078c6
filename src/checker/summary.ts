// A plain-text rendering of a verdict: the demo prints it, the jepsen-like suite writes it to the run folder.

import type { CheckName, Verdict } from './verdict.js';

const headline: Record<Verdict['status'], string> = {
  pass: 'PASS',
  fail: 'FAIL: the history shows violations',
  'harness-failure': 'HARNESS FAILURE: the run did not reach its stated minimums (not a pass)',
};

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function formatCounts(record: Record<string, number>): string {
  const parts = Object.entries(record).map(([k, v]) => `${k}=${v}`);
  return parts.length === 0 ? '-' : parts.join(' ');
}

export function summary(verdict: Verdict): string {
  const s = verdict.stats;
  const lost = verdict.checks.lost.count;
  const twice = verdict.checks.singleCompletion.count;
  const lines = [
    `raftq history check: ${headline[verdict.status]}`,
    '',
    `operations   ${s.ops} recorded; calls ok ${s.ok}, fail ${s.fail}, info ${s.info}; over ${seconds(s.durationMs)}`,
    `tasks        acknowledged ${s.enqueued}, leased ${s.leased}, completed ${s.completed}, lost ${lost}, completed twice ${twice}`,
    `faults       ${formatCounts(s.faults)}; leader changes ${s.leaderChanges}`,
    `leases       expired ${s.leasesExpired}; stale acks refused ${s.staleAcksRefused}`,
    `failover     ${seconds(s.failoverMs)} (worst, from a fault to the next success); longest gap without a success ${seconds(s.longestGapMs)}`,
    `agreement    ${s.digestComparisons} indexes compared across nodes; malformed ops ${s.malformed}`,
    '',
    'checks:',
  ];
  const width = Math.max(...Object.keys(verdict.checks).map((k) => k.length));
  for (const [name, r] of Object.entries(verdict.checks) as [CheckName, Verdict['checks'][CheckName]][]) {
    const mark = r.valid ? 'ok  ' : 'FAIL';
    const what = r.valid ? formatCounts(r.details) : `${r.count} violation(s): ${formatCounts(r.details)}`;
    lines.push(`  ${mark} ${name.padEnd(width)}  ${what}`);
    for (const ex of r.valid ? [] : r.examples) lines.push(`         e.g. ${JSON.stringify(ex, bigintSafe)}`);
  }
  if (verdict.harness.shortfalls.length > 0) {
    lines.push('', 'harness shortfalls:');
    for (const sf of verdict.harness.shortfalls) lines.push(`  - ${sf}`);
  }
  return lines.join('\n') + '\n';
}

function bigintSafe(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
