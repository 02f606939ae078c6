// The safety and liveness checks of docs/faults.md §1.3, one function each, over a HistoryIndex.
// Every check reports only what the history proves: an indeterminate (`info`) operation may or may
// not have happened, so it never counts as evidence of a violation on its own.

import { attemptKey } from './analysis.js';
import type { AttemptCall, EnqueueCall, Grant, HistoryIndex, ValueInfo } from './analysis.js';
import { terminalStates } from './history.js';
import type { MonoMs, TaskState } from './history.js';

export interface CheckResult {
  valid: boolean;
  /** Number of violations found. */
  count: number;
  /** Violation counts by kind, plus context counters (what was checked). */
  details: Record<string, number>;
  /** The first few violations, as plain objects. */
  examples: unknown[];
}

export interface CheckOptions {
  /** Examples kept per check (default 5). */
  examplesMax?: number;
  /** L1: every node must serve a probe round trip within this bound after the last heal (default 30 s). */
  recoveryBoundMs?: number;
  /**
   * Orders task ids by enqueue order, if ids encode it. Without it, group order only uses the
   * real-time order of non-concurrent enqueues.
   */
  compareTaskIds?: (a: string, b: string) => number;
}

class Collector {
  readonly #details: Record<string, number> = {};
  readonly #examples: unknown[] = [];
  #count = 0;

  constructor(private readonly examplesMax: number) {}

  violation(kind: string, example: Record<string, unknown>): void {
    this.#count += 1;
    this.note(kind);
    if (this.#examples.length < this.examplesMax) this.#examples.push({ kind, ...example });
  }

  note(name: string, n = 1): void {
    this.#details[name] = (this.#details[name] ?? 0) + n;
  }

  result(): CheckResult {
    return { valid: this.#count === 0, count: this.#count, details: { ...this.#details }, examples: this.#examples };
  }
}

function collector(opts: CheckOptions): Collector {
  return new Collector(opts.examplesMax ?? 5);
}

const okEnqueued = (info: ValueInfo): boolean => info.enqueues.some((e) => e.call.outcome === 'ok');
const observed = (info: ValueInfo): boolean => info.leased || info.inRead;

/** Q1: every ok enqueue's value was leased, or is in a final read; losses split prefix / middle / postfix. */
export function checkLost(idx: HistoryIndex, opts: CheckOptions = {}): CheckResult {
  const c = collector(opts);
  // A deduplicated enqueue answers the original task's id: seeing that task is seeing this enqueue,
  // but only if that task holds a value enqueued with the same key. An answered id that turns up
  // holding an unrelated value is no evidence (a lost task whose id was handed out again).
  const valuesById = new Map<string, Set<string>>();
  const holds = (taskId: string, value: string): void => {
    const set = valuesById.get(taskId) ?? new Set<string>();
    set.add(value);
    valuesById.set(taskId, set);
  };
  for (const g of idx.grants) holds(g.taskId, g.value);
  for (const tasks of idx.reads.values()) for (const t of tasks) holds(t.taskId, t.value);
  const keysOf = (info: ValueInfo | undefined): Set<string> =>
    new Set(
      (info?.enqueues ?? []).flatMap((e) =>
        e.value.idempotencyKey === undefined ? [] : [`${e.value.queue ?? ''}\u0000${e.value.idempotencyKey}`],
      ),
    );
  const seenUnderId = (info: ValueInfo): boolean => {
    const keys = keysOf(info);
    return [...info.taskIds].some((id) =>
      [...(valuesById.get(id) ?? [])].some(
        (v) => v === info.value || [...keysOf(idx.values.get(v))].some((k) => keys.has(k)),
      ),
    );
  };
  const seen = (info: ValueInfo): boolean => observed(info) || seenUnderId(info);
  const byProducer = new Map<string, ValueInfo[]>();
  for (const info of idx.values.values()) {
    if (info.enqueues.length === 0) continue;
    const list = byProducer.get(info.producer) ?? [];
    list.push(info);
    byProducer.set(info.producer, list);
  }
  for (const [producer, infos] of byProducer) {
    const seqs = infos.filter(seen).map((i) => i.seq);
    const firstSeen = minOf(seqs);
    const lastSeen = maxOf(seqs);
    for (const info of infos) {
      if (!okEnqueued(info)) continue;
      c.note('checked');
      if (seen(info)) continue;
      // Only a middle loss is certain when the drain was cut short; any loss fails the check.
      const where = info.seq < firstSeen && seqs.length > 0 ? 'prefix' : info.seq > lastSeen ? 'postfix' : 'middle';
      c.violation(where, { producer, seq: info.seq, value: info.value, taskIds: [...info.taskIds] });
    }
  }
  return c.result();
}

/** Q2: every leased or read value was enqueued by someone, and no enqueue that certainly failed shows up. */
export function checkPhantom(idx: HistoryIndex, opts: CheckOptions = {}): CheckResult {
  const c = collector(opts);
  for (const info of idx.values.values()) {
    if (!observed(info)) continue;
    c.note('checked');
    if (info.enqueues.length === 0) c.violation('unexpected', { value: info.value, taskIds: [...info.taskIds] });
    else if (info.enqueues.every((e) => e.call.outcome === 'fail'))
      c.violation('failed-enqueue-present', { value: info.value, taskIds: [...info.taskIds] });
  }
  return c.result();
}

/** Q3: one task per producer operation (its unique value) and one task per idempotency key. */
export function checkDuplicated(idx: HistoryIndex, opts: CheckOptions = {}): CheckResult {
  const c = collector(opts);
  const byKey = new Map<string, Set<string>>();
  for (const info of idx.values.values()) {
    if (okEnqueued(info)) {
      c.note('checked');
      if (info.taskIds.size > 1) c.violation('per-operation', { value: info.value, taskIds: [...info.taskIds] });
    }
    for (const e of info.enqueues) {
      if (e.value.idempotencyKey === undefined) continue;
      const key = `${e.value.queue ?? ''}\u0000${e.value.idempotencyKey}`;
      const ids = byKey.get(key) ?? new Set<string>();
      for (const id of info.taskIds) ids.add(id);
      if (e.taskId !== undefined) ids.add(e.taskId);
      byKey.set(key, ids);
    }
  }
  for (const [key, ids] of byKey) {
    c.note('keys');
    const [queue, idempotencyKey] = key.split('\u0000');
    if (ids.size > 1) c.violation('per-idempotency-key', { queue, idempotencyKey, taskIds: [...ids] });
  }
  return c.result();
}

/** An enqueue whose every call was indeterminate may have happened, but at most once. */
export function checkInfoAtMostOnce(idx: HistoryIndex, opts: CheckOptions = {}): CheckResult {
  const c = collector(opts);
  for (const info of idx.values.values()) {
    if (info.enqueues.length === 0 || !info.enqueues.some((e) => e.call.outcome === 'info')) continue;
    if (okEnqueued(info)) continue; // an ok call makes it the duplicated check's business
    c.note('checked');
    if (observed(info)) c.note('recovered');
    if (info.taskIds.size > 1) c.violation('present-twice', { value: info.value, taskIds: [...info.taskIds] });
  }
  return c.result();
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = m.get(k);
    if (list === undefined) m.set(k, [it]);
    else list.push(it);
  }
  return m;
}

function grantExample(g: Grant): Record<string, unknown> {
  return {
    process: g.call.process,
    token: g.token.toString(),
    held: [g.beliefStart, g.heldEnd],
    granted: [g.call.invokeTime, g.call.completeTime],
  };
}

/**
 * Q4: per task, the believed-held intervals of different tokens never overlap, a token is granted
 * once, and a grant that completed before another was invoked has the smaller token.
 */
export function checkExclusive(idx: HistoryIndex, opts: CheckOptions = {}): CheckResult {
  const c = collector(opts);
  for (const [taskId, grants] of groupBy(idx.grants, (g) => g.taskId)) {
    c.note('tasks');
    c.note('grants', grants.length);
    for (let i = 0; i < grants.length; i += 1) {
      for (let j = i + 1; j < grants.length; j += 1) {
        checkGrantPair(c, taskId, grants[i]!, grants[j]!);
      }
    }
  }
  return c.result();
}

function checkGrantPair(c: Collector, taskId: string, a: Grant, b: Grant): void {
  if (a.token === b.token) {
    c.violation('token-reused', { taskId, first: grantExample(a), second: grantExample(b) });
    return;
  }
  const [early, late] = a.call.completeTime < b.call.invokeTime ? [a, b] : [b, a];
  if (early.call.completeTime < late.call.invokeTime && early.token > late.token)
    c.violation('token-order', { taskId, first: grantExample(early), second: grantExample(late) });
  // A grant that reached its worker after its belief end held nothing (an empty interval: the SDK gives
  // it back without running the handler), so it overlaps nothing.
  const empty = a.heldEnd <= a.beliefStart || b.heldEnd <= b.beliefStart;
  if (!empty && a.beliefStart < b.heldEnd && b.beliefStart < a.heldEnd)
    c.violation('overlap', { taskId, first: grantExample(a), second: grantExample(b) });
}

function attemptExample(a: AttemptCall): Record<string, unknown> {
  return {
    f: a.f,
    taskId: a.taskId,
    token: a.token.toString(),
    process: a.call.process,
    at: [a.call.invokeTime, a.call.completeTime],
  };
}

/**
 * Q4/Q5 black-box: once a grant with a newer token completed at T, an ack / nack / release /
 * extend with an older token invoked after T must not succeed, unless it repeats the same kind of
 * call that ended (or, indeterminate, may have ended) that attempt before T: docs/design.md §1.4 gives
 * it the original answer.
 */
export function checkStaleAcksRefused(idx: HistoryIndex, opts: CheckOptions = {}): CheckResult {
  const c = collector(opts);
  const grantsByTask = groupBy(idx.grants, (g) => g.taskId);
  // An original may have applied without its answer arriving (info), so it counts too.
  const sameCalls = groupBy(
    idx.attempts.filter((a) => a.call.outcome !== 'fail'),
    (a) => `${a.f}\u0000${attemptKey(a.taskId, a.token)}`,
  );
  for (const a of idx.attempts) {
    if (a.call.outcome === 'fail' && a.call.error === 'LEASE_LOST') c.note('refused');
    if (a.call.outcome !== 'ok') continue;
    c.note('checked');
    const supersededAt = minOf(
      (grantsByTask.get(a.taskId) ?? []).filter((g) => g.token > a.token).map((g) => g.call.completeTime),
    );
    if (!(supersededAt < a.call.invokeTime)) continue;
    const originals = sameCalls.get(`${a.f}\u0000${attemptKey(a.taskId, a.token)}`) ?? [];
    const repeat = a.f !== 'extend' && originals.some((o) => o !== a && o.call.invokeTime < supersededAt);
    if (repeat) c.note('repeats');
    else c.violation('stale-accepted', { ...attemptExample(a), supersededAt });
  }
  return c.result();
}

/** Q6: at most one token completes a task (the same token's repeated ack is the same completion). */
export function checkSingleCompletion(idx: HistoryIndex, opts: CheckOptions = {}): CheckResult {
  const c = collector(opts);
  const acks = idx.attempts.filter((a) => a.f === 'ack' && a.call.outcome === 'ok');
  for (const [taskId, list] of groupBy(acks, (a) => a.taskId)) {
    c.note('completed');
    const tokens = new Set(list.map((a) => a.token));
    if (tokens.size > 1)
      c.violation('completed-twice', { taskId, tokens: [...tokens].map(String), acks: list.map(attemptExample) });
  }
  return c.result();
}

/**
 * Q7: after an ok ack of token t (first one completing at T), no grant of that task has a newer
 * token or was invoked after T, and no final read shows the task in another state than completed.
 */
export function checkNoAckLost(idx: HistoryIndex, opts: CheckOptions = {}): CheckResult {
  const c = collector(opts);
  const grantsByTask = groupBy(idx.grants, (g) => g.taskId);
  const finalStates = finalStatesByTask(idx);
  const acks = idx.attempts.filter((a) => a.f === 'ack' && a.call.outcome === 'ok');
  for (const [taskId, list] of groupBy(acks, (a) => a.taskId)) {
    c.note('checked');
    const first = list.reduce((x, y) => (y.call.completeTime < x.call.completeTime ? y : x));
    const ackedAt = first.call.completeTime;
    for (const g of grantsByTask.get(taskId) ?? []) {
      if (g.token > first.token || g.call.invokeTime > ackedAt)
        c.violation('granted-after-ack', { taskId, ack: attemptExample(first), grant: grantExample(g) });
    }
    for (const [node, state] of finalStates.get(taskId) ?? []) {
      if (state !== 'completed')
        c.violation('final-not-completed', { taskId, node, state, ack: attemptExample(first) });
    }
  }
  return c.result();
}

function finalStatesByTask(idx: HistoryIndex): Map<string, [string, string][]> {
  const m = new Map<string, [string, string][]>();
  for (const [node, tasks] of idx.reads) {
    for (const t of tasks) {
      const list = m.get(t.taskId) ?? [];
      list.push([node, t.state]);
      m.set(t.taskId, list);
    }
  }
  return m;
}

interface GroupMember {
  info: ValueInfo;
  /** Upper bound on when the task was created (its first ok enqueue completed). */
  createdBy: MonoMs;
  /** Lower bound on when the task was created (its first enqueue was invoked). */
  createdAfter: MonoMs;
  /** Lower bound on when it could have become terminal (NaN: unknown, skip as a blocker). */
  terminalFrom: MonoMs;
}

/**
 * Group FIFO (docs/design.md §3): no task of a group is leased while an earlier task of the group is
 * certainly non-terminal. "Earlier" is the enqueue order (real time, or `compareTaskIds`).
 * Each grant is compared with the earlier member that may stay non-terminal the longest.
 */
export function checkGroupOrder(idx: HistoryIndex, opts: CheckOptions = {}): CheckResult {
  const c = collector(opts);
  const terminalOps = terminalOpTimes(idx);
  const finalStates = finalStatesByTask(idx);
  const byGroup = new Map<string, GroupMember[]>();
  for (const info of idx.values.values()) {
    if (info.group === undefined || info.enqueues.length === 0) continue;
    const members = byGroup.get(info.group) ?? [];
    members.push(groupMember(info, terminalOps, finalStates));
    byGroup.set(info.group, members);
  }
  const grantsByValue = groupBy(idx.grants, (g) => g.value);
  for (const [group, members] of byGroup) {
    c.note('groups');
    const byTime = new BlockerIndex([...members].sort((a, b) => a.createdBy - b.createdBy));
    const byId = idOrder(members, opts);
    for (const b of members) {
      // Real time: members whose enqueue completed before b's first enqueue was invoked.
      const timeBlocker = byTime.latestBefore(byTime.countBelow(b.createdAfter));
      const position = byId?.positionOf(b) ?? -1;
      const idBlocker = position > 0 ? byId?.latestBefore(position) : undefined;
      for (const g of grantsByValue.get(b.info.value) ?? []) {
        const a = [timeBlocker, idBlocker].find((m) => m !== undefined && g.call.completeTime < m.terminalFrom);
        if (a === undefined) continue;
        c.violation('leased-behind-open-task', {
          group,
          leased: b.info.value,
          blockedBy: a.info.value,
          grant: grantExample(g),
          blockerTerminalFrom: a.terminalFrom,
        });
      }
    }
  }
  return c.result();
}

/** Members in enqueue order and, per prefix, the one that may stay non-terminal the longest. */
class BlockerIndex {
  readonly #latest: (GroupMember | undefined)[] = [];
  readonly #position = new Map<GroupMember, number>();

  constructor(readonly members: GroupMember[]) {
    let best: GroupMember | undefined;
    for (const m of members) {
      this.#position.set(m, this.#position.size);
      if (!Number.isNaN(m.terminalFrom) && (best === undefined || m.terminalFrom > best.terminalFrom)) best = m;
      this.#latest.push(best);
    }
  }

  /** Leading members created certainly before `bound` (members sorted by createdBy). */
  countBelow(bound: number): number {
    let lo = 0;
    let hi = this.members.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.members[mid]!.createdBy < bound) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  positionOf(m: GroupMember): number {
    return this.#position.get(m) ?? -1;
  }

  latestBefore(count: number): GroupMember | undefined {
    return count > 0 ? this.#latest[count - 1] : undefined;
  }
}

function idOrder(members: GroupMember[], opts: CheckOptions): BlockerIndex | undefined {
  const compare = opts.compareTaskIds;
  if (compare === undefined) return undefined;
  const id = (m: GroupMember): string => [...m.info.taskIds][0] ?? '';
  const single = members.filter((m) => m.info.taskIds.size === 1);
  return new BlockerIndex(single.sort((a, b) => compare(id(a), id(b))));
}

/** Per task id: invoke times of calls that may have made it terminal (acks, nacks, cancels not failed). */
function terminalOpTimes(idx: HistoryIndex): Map<string, number> {
  const m = new Map<string, number>();
  const add = (taskId: string, t: number): void => {
    m.set(taskId, Math.min(m.get(taskId) ?? Infinity, t));
  };
  for (const a of idx.attempts) {
    if (a.call.outcome !== 'fail' && (a.f === 'ack' || a.f === 'nack')) add(a.taskId, a.call.invokeTime);
  }
  for (const x of idx.cancels) if (x.call.outcome !== 'fail') add(x.taskId, x.call.invokeTime);
  return m;
}

function groupMember(
  info: ValueInfo,
  terminalOps: Map<string, number>,
  finalStates: Map<string, [string, string][]>,
): GroupMember {
  const okTimes = info.enqueues.filter((e: EnqueueCall) => e.call.outcome === 'ok').map((e) => e.call.completeTime);
  const createdBy = minOf(okTimes);
  const createdAfter = minOf(info.enqueues.map((e) => e.call.invokeTime));
  const ids = [...info.taskIds];
  const states = ids.flatMap((id) => (finalStates.get(id) ?? []).map(([, s]) => s));
  let terminalFrom = NaN; // unknown: never used as evidence
  if (states.length > 0 && states.every((s) => !terminalStates.has(s as TaskState))) terminalFrom = Infinity;
  else if (states.length > 0 && states.every((s) => s === 'completed')) {
    // Completed needs an ack, so the first ack that may have applied bounds the completion from below.
    // Dead / cancelled / expired may come from unobserved causes (expiries past maxDeliveries, TTL).
    const t = minOf(ids.map((id) => terminalOps.get(id) ?? Infinity));
    if (Number.isFinite(t)) terminalFrom = t;
  }
  return { info, createdBy, createdAfter, terminalFrom };
}

export function minOf(xs: readonly number[]): number {
  let m = Infinity;
  for (const x of xs) if (x < m) m = x;
  return m;
}

export function maxOf(xs: readonly number[]): number {
  let m = -Infinity;
  for (const x of xs) if (x > m) m = x;
  return m;
}

/** Q9 white-box: nodes agree on the digest at every index they have in common. */
export function checkAgreement(idx: HistoryIndex, opts: CheckOptions = {}): CheckResult {
  const c = collector(opts);
  const byIndex = new Map<number, Map<string, string>>();
  for (const [node, points] of Object.entries(idx.final?.digests ?? {})) {
    c.note('nodes');
    for (const p of Array.isArray(points) ? points : []) {
      if (typeof p?.index !== 'number' || typeof p.digest !== 'string') continue;
      const m = byIndex.get(p.index) ?? new Map<string, string>();
      m.set(node, p.digest);
      byIndex.set(p.index, m);
    }
  }
  for (const [index, digests] of byIndex) {
    if (digests.size < 2) continue;
    c.note('compared');
    if (new Set(digests.values()).size > 1) c.violation('diverged', { index, digests: Object.fromEntries(digests) });
  }
  return c.result();
}

/** L1: after the last heal, every node serves a probe round trip within the bound. */
export function checkRecovery(idx: HistoryIndex, opts: CheckOptions = {}): CheckResult {
  const c = collector(opts);
  const final = idx.final;
  if (final?.healTime === undefined) return c.result();
  const healTime = final.healTime;
  const bound = opts.recoveryBoundMs ?? 30_000;
  const nodes = final.nodes ?? Object.keys(final.digests);
  const probes = Array.isArray(final.recovery) ? final.recovery : [];
  for (const node of nodes) {
    c.note('nodes');
    const ok = probes.filter((p) => p.node === node && p.ok && p.time >= healTime).map((p) => p.time);
    const first = minOf(ok);
    if (first <= healTime + bound) c.note('recovered');
    else
      c.violation('not-recovered', {
        node,
        healTime,
        boundMs: bound,
        firstOkProbe: Number.isFinite(first) ? first : null,
      });
  }
  return c.result();
}

/** Q13: after the drain, the final reads through every node show the same tasks in the same states. */
export function checkReadsAgree(idx: HistoryIndex, opts: CheckOptions = {}): CheckResult {
  const c = collector(opts);
  if (idx.reads.size < 2) return c.result();
  const perNode = [...idx.reads].map(
    ([node, tasks]) => [node, new Map(tasks.map((t) => [t.taskId, t.state]))] as const,
  );
  const taskIds = new Set(perNode.flatMap(([, m]) => [...m.keys()]));
  c.note('nodes', perNode.length);
  for (const taskId of taskIds) {
    c.note('tasks');
    const states = perNode.map(([node, m]) => [node, m.get(taskId) ?? 'absent'] as const);
    if (new Set(states.map(([, st]) => st)).size > 1)
      c.violation('differs', { taskId, states: Object.fromEntries(states) });
  }
  return c.result();
}
