// checkAll: every check plus the run's counts, judged against the stated minimums. A run that did
// not exercise what it claims to (too few faults, no stale acks, ...) is a harness failure, never a pass.

import { attemptKey, indexHistory } from './analysis.js';
import type { HistoryIndex } from './analysis.js';
import {
  checkAgreement,
  checkDuplicated,
  checkExclusive,
  checkGroupOrder,
  checkInfoAtMostOnce,
  checkLost,
  checkNoAckLost,
  checkPhantom,
  checkReadsAgree,
  checkRecovery,
  checkSingleCompletion,
  checkStaleAcksRefused,
} from './checks.js';
import type { CheckOptions, CheckResult } from './checks.js';
import { parseHistory } from './history.js';
import type { FinalObservations, History, MonoMs } from './history.js';

export const checks = {
  lost: checkLost,
  phantom: checkPhantom,
  duplicated: checkDuplicated,
  infoAtMostOnce: checkInfoAtMostOnce,
  exclusive: checkExclusive,
  staleAcksRefused: checkStaleAcksRefused,
  singleCompletion: checkSingleCompletion,
  noAckLost: checkNoAckLost,
  groupOrder: checkGroupOrder,
  agreement: checkAgreement,
  readsAgree: checkReadsAgree,
  recovery: checkRecovery,
} as const;
export type CheckName = keyof typeof checks;

/** Lower bounds a run must reach to count as evidence. Absent fields are not required. */
export interface Minimums {
  ok?: number;
  fail?: number;
  info?: number;
  /** Completed tasks (distinct tasks with an ok ack). */
  completed?: number;
  /** Fault starts per nemesis kind, e.g. `{ kill: 3, partition: 2 }`. */
  faults?: Record<string, number>;
  leaderChanges?: number;
  leasesExpired?: number;
  staleAcksRefused?: number;
  /** Indexes compared across nodes by the agreement check. */
  digestComparisons?: number;
  /** Malformed ops tolerated (default 0: a malformed history is a harness bug). */
  malformedMax?: number;
}

export interface CheckAllOptions extends CheckOptions {
  minimums?: Minimums;
  /** Lines of the history file that did not parse (parseHistory), counted as malformed. */
  malformedLines?: number;
}

export interface Stats {
  ops: number;
  /** Client calls (reads excluded) by outcome. */
  ok: number;
  fail: number;
  info: number;
  byKind: Record<string, { ok: number; fail: number; info: number }>;
  enqueued: number;
  leased: number;
  completed: number;
  faults: Record<string, number>;
  leaderChanges: number;
  /** Grants superseded by a newer token without an ok/indeterminate nack or release: presumed expiries. */
  leasesExpired: number;
  staleAcksRefused: number;
  digestComparisons: number;
  malformed: number;
  durationMs: MonoMs;
  /** Longest stretch without any ok enqueue / lease / ack: the worst unavailability. */
  longestGapMs: MonoMs;
  /** Failover time: the longest wait, over fault starts, until a call invoked after it succeeds. */
  failoverMs: MonoMs;
}

export type VerdictStatus = 'pass' | 'fail' | 'harness-failure';

export interface Verdict {
  /** True only when status is 'pass'. */
  valid: boolean;
  /** A violation wins over a harness failure: a bug seen in a short run is still a bug. */
  status: VerdictStatus;
  checks: Record<CheckName, CheckResult>;
  stats: Stats;
  harness: { valid: boolean; shortfalls: string[] };
}

/** Runs every check. `final` may also come with the history file (parseHistory). */
export function checkAll(history: History, final?: FinalObservations, opts: CheckAllOptions = {}): Verdict {
  const idx = indexHistory(history, final);
  const results = {} as Record<CheckName, CheckResult>;
  for (const name of Object.keys(checks) as CheckName[]) results[name] = checks[name](idx, opts);
  const stats = computeStats(idx, history.length, results);
  stats.malformed += opts.malformedLines ?? 0;
  const shortfalls = findShortfalls(stats, opts.minimums ?? {});
  const violated = Object.values(results).some((r) => !r.valid);
  const status: VerdictStatus = violated ? 'fail' : shortfalls.length > 0 ? 'harness-failure' : 'pass';
  return {
    valid: status === 'pass',
    status,
    checks: results,
    stats,
    harness: { valid: shortfalls.length === 0, shortfalls },
  };
}

/** Parses a history file (JSON lines, final section included) and checks it. */
export function checkJsonLines(text: string, opts: CheckAllOptions = {}): Verdict {
  const parsed = parseHistory(text);
  return checkAll(parsed.ops, parsed.final, { ...opts, malformedLines: parsed.malformedLines });
}

export function computeStats(idx: HistoryIndex, ops: number, results: Record<CheckName, CheckResult>): Stats {
  const byKind: Stats['byKind'] = {};
  let ok = 0;
  let fail = 0;
  let info = 0;
  for (const call of idx.calls) {
    if (call.f === 'read') continue;
    const k = (byKind[call.f] ??= { ok: 0, fail: 0, info: 0 });
    k[call.outcome] += 1;
    if (call.outcome === 'ok') ok += 1;
    else if (call.outcome === 'fail') fail += 1;
    else info += 1;
  }
  const faults: Record<string, number> = {};
  for (const f of idx.faults) if (f.action === 'start') faults[f.kind] = (faults[f.kind] ?? 0) + 1;
  return {
    ops,
    ok,
    fail,
    info,
    byKind,
    enqueued: idx.enqueues.filter((e) => e.call.outcome === 'ok').length,
    leased: idx.grants.length,
    completed: new Set(idx.attempts.filter((a) => a.f === 'ack' && a.call.outcome === 'ok').map((a) => a.taskId)).size,
    faults,
    leaderChanges: Math.max(0, new Set(idx.leaders.map((l) => l.term)).size - 1),
    leasesExpired: countExpired(idx),
    staleAcksRefused: idx.attempts.filter(
      (a) => a.f === 'ack' && a.call.outcome === 'fail' && a.call.error === 'LEASE_LOST',
    ).length,
    digestComparisons: results.agreement.details['compared'] ?? 0,
    malformed: idx.malformed,
    durationMs: idx.endTime - idx.startTime,
    longestGapMs: longestGap(idx),
    failoverMs: failover(idx),
  };
}

function countExpired(idx: HistoryIndex): number {
  const givenBack = new Set(
    idx.attempts
      .filter((a) => (a.f === 'nack' || a.f === 'release') && a.call.outcome !== 'fail')
      .map((a) => attemptKey(a.taskId, a.token)),
  );
  const newest = new Map<string, bigint>();
  for (const g of idx.grants) {
    const n = newest.get(g.taskId);
    if (n === undefined || g.token > n) newest.set(g.taskId, g.token);
  }
  let expired = 0;
  for (const g of idx.grants) {
    const superseded = (newest.get(g.taskId) ?? g.token) > g.token;
    if (superseded && !givenBack.has(attemptKey(g.taskId, g.token))) expired += 1;
  }
  return expired;
}

function longestGap(idx: HistoryIndex): MonoMs {
  const times = idx.calls
    .filter((c) => c.outcome === 'ok' && (c.f === 'enqueue' || c.f === 'lease' || c.f === 'ack'))
    .map((c) => c.completeTime)
    .sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < times.length; i += 1) gap = Math.max(gap, times[i]! - times[i - 1]!);
  return gap;
}

/**
 * The worst fault's time to the first success among calls invoked once it held: from its injection
 * (`since`, else its time) to that call's completion.
 */
function failover(idx: HistoryIndex): MonoMs {
  const oks = idx.calls
    .filter((c) => c.outcome === 'ok' && (c.f === 'enqueue' || c.f === 'lease' || c.f === 'ack'))
    .sort((a, b) => a.invokeTime - b.invokeTime);
  // Suffix minimum of completion times, so each fault start needs one binary search.
  const firstDone = oks.map((c) => c.completeTime);
  for (let i = firstDone.length - 2; i >= 0; i -= 1) firstDone[i] = Math.min(firstDone[i]!, firstDone[i + 1]!);
  let worst = 0;
  for (const f of idx.faults) {
    if (f.action !== 'start') continue;
    let lo = 0;
    let hi = oks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (oks[mid]!.invokeTime < f.time) lo = mid + 1;
      else hi = mid;
    }
    const done = firstDone[lo];
    if (done !== undefined) worst = Math.max(worst, done - (f.since ?? f.time));
  }
  return worst;
}

function findShortfalls(stats: Stats, min: Minimums): string[] {
  const out: string[] = [];
  const need = (name: string, have: number, want: number | undefined): void => {
    if (want !== undefined && have < want) out.push(`${name}: ${have} < ${want}`);
  };
  need('ok operations', stats.ok, min.ok);
  need('fail operations', stats.fail, min.fail);
  need('info operations', stats.info, min.info);
  need('completed tasks', stats.completed, min.completed);
  for (const [kind, want] of Object.entries(min.faults ?? {}))
    need(`faults of kind ${kind}`, stats.faults[kind] ?? 0, want);
  need('leader changes', stats.leaderChanges, min.leaderChanges);
  need('leases expired', stats.leasesExpired, min.leasesExpired);
  need('stale acks refused', stats.staleAcksRefused, min.staleAcksRefused);
  need('digest comparisons', stats.digestComparisons, min.digestComparisons);
  const malformedMax = min.malformedMax ?? 0;
  if (stats.malformed > malformedMax) out.push(`malformed ops: ${stats.malformed} > ${malformedMax}`);
  return out;
}
