// Turns a raw history into paired calls and per-task / per-value indexes that every check reads.
// Never throws on malformed input: anything unusable is skipped and counted in `malformed`.

import { isRecord } from './history.js';
import type {
  AttemptValue,
  EnqueueValue,
  FaultValue,
  FinalObservations,
  FinalTask,
  History,
  LeaderValue,
  LeaseGrant,
  MonoMs,
  Op,
  OpKind,
  ProcessId,
} from './history.js';

export type Outcome = 'ok' | 'fail' | 'info';

/** An invoke and its completion. An invoke never completed is indeterminate, `completeTime` = ∞. */
export interface Call {
  process: ProcessId;
  f: OpKind;
  outcome: Outcome;
  invoke: Op;
  completion: Op | undefined;
  invokeTime: MonoMs;
  completeTime: MonoMs;
  error: string | undefined;
  node: string | undefined;
}

export interface EnqueueCall {
  call: Call;
  value: EnqueueValue;
  /** The answered id (ok only). */
  taskId: string | undefined;
}

export interface Grant {
  call: Call;
  taskId: string;
  token: bigint;
  value: string;
  group: string | undefined;
  beliefStart: MonoMs;
  /** The latest belief deadline, after ok extends. */
  beliefEnd: MonoMs;
  /** End of the believed-held interval: beliefEnd, or the holder's first ack / nack / release. */
  heldEnd: MonoMs;
}

export interface AttemptCall {
  call: Call;
  f: 'ack' | 'nack' | 'release' | 'extend';
  taskId: string;
  token: bigint;
  dead: boolean;
  beliefEnd: MonoMs | undefined;
}

export interface FaultEvent {
  time: MonoMs;
  kind: string;
  action: 'start' | 'stop';
  /** When it was injected, if before `time` (FaultValue.since). */
  since?: MonoMs;
}

export interface ValueInfo {
  value: string;
  producer: string;
  seq: number;
  group: string | undefined;
  enqueues: EnqueueCall[];
  /** Every task id this value was seen under: enqueue answers, grants, final reads. */
  taskIds: Set<string>;
  leased: boolean;
  inRead: boolean;
}

export interface HistoryIndex {
  calls: Call[];
  enqueues: EnqueueCall[];
  grants: Grant[];
  attempts: AttemptCall[];
  cancels: { call: Call; taskId: string }[];
  /** The last ok final read per node. */
  reads: Map<string, FinalTask[]>;
  faults: FaultEvent[];
  leaders: LeaderValue[];
  values: Map<string, ValueInfo>;
  malformed: number;
  final: FinalObservations | undefined;
  startTime: MonoMs;
  endTime: MonoMs;
}

const taskStates: ReadonlySet<string> = new Set([
  'waiting',
  'delayed',
  'leased',
  'completed',
  'dead',
  'cancelled',
  'expired',
]);

export function parseToken(v: unknown): bigint | undefined {
  return typeof v === 'string' && /^\d{1,40}$/.test(v) ? BigInt(v) : undefined;
}

function isEnqueueValue(v: unknown): v is EnqueueValue {
  return (
    isRecord(v) &&
    typeof v['producer'] === 'string' &&
    typeof v['seq'] === 'number' &&
    typeof v['value'] === 'string' &&
    optionalString(v['idempotencyKey']) &&
    optionalString(v['group']) &&
    optionalString(v['queue'])
  );
}

function optionalString(v: unknown): boolean {
  return v === undefined || typeof v === 'string';
}

function isLeaseGrant(v: unknown): v is LeaseGrant {
  return (
    isRecord(v) &&
    typeof v['taskId'] === 'string' &&
    parseToken(v['token']) !== undefined &&
    typeof v['value'] === 'string' &&
    typeof v['beliefStart'] === 'number' &&
    typeof v['beliefEnd'] === 'number' &&
    optionalString(v['group'])
  );
}

function isAttemptValue(v: unknown): v is AttemptValue {
  return isRecord(v) && typeof v['taskId'] === 'string' && parseToken(v['token']) !== undefined;
}

function isFinalTask(v: unknown): v is FinalTask {
  return (
    isRecord(v) &&
    typeof v['taskId'] === 'string' &&
    typeof v['value'] === 'string' &&
    typeof v['state'] === 'string' &&
    taskStates.has(v['state'])
  );
}

function isEvent(op: Op): boolean {
  return op.f === 'fault' || op.f === 'leader';
}

/** Pairs each invoke with the next completion of the same process (Jepsen's rule). */
export function pairCalls(history: History): { calls: Call[]; events: Op[]; malformed: number } {
  const calls: Call[] = [];
  const events: Op[] = [];
  const open = new Map<ProcessId, Op>();
  let malformed = 0;
  const close = (invoke: Op, completion: Op | undefined): void => {
    const outcome: Outcome = completion === undefined || completion.type === 'invoke' ? 'info' : completion.type;
    calls.push({
      process: invoke.process,
      f: invoke.f,
      outcome,
      invoke,
      completion,
      invokeTime: invoke.time,
      completeTime: completion?.time ?? Number.POSITIVE_INFINITY,
      error: completion?.error,
      node: invoke.node ?? completion?.node,
    });
  };
  for (const op of history) {
    if (isEvent(op)) {
      events.push(op);
      continue;
    }
    const pending = open.get(op.process);
    if (op.type === 'invoke') {
      if (pending !== undefined) {
        malformed += 1; // a process invoked twice without completing: keep the first as unknown
        close(pending, undefined);
      }
      open.set(op.process, op);
      continue;
    }
    if (pending === undefined || pending.f !== op.f || op.time < pending.time) {
      malformed += 1;
      continue;
    }
    open.delete(op.process);
    close(pending, op);
  }
  for (const pending of open.values()) close(pending, undefined);
  return { calls, events, malformed };
}

/** Builds every index the checks need, in one pass over the calls. */
export function indexHistory(history: History, final?: FinalObservations): HistoryIndex {
  const { calls, events, malformed: pairingMalformed } = pairCalls(history);
  const idx: HistoryIndex = {
    calls,
    enqueues: [],
    grants: [],
    attempts: [],
    cancels: [],
    reads: new Map(),
    faults: [],
    leaders: [],
    values: new Map(),
    malformed: pairingMalformed,
    final,
    startTime: 0,
    endTime: 0,
  };
  let start = Infinity;
  let end = -Infinity;
  for (const op of history) {
    if (op.time < start) start = op.time;
    if (op.time > end) end = op.time;
  }
  if (history.length > 0) [idx.startTime, idx.endTime] = [start, end];
  for (const call of calls) indexCall(idx, call);
  for (const op of events) indexEvent(idx, op);
  finishGrants(idx);
  return idx;
}

function indexCall(idx: HistoryIndex, call: Call): void {
  switch (call.f) {
    case 'enqueue':
      return indexEnqueue(idx, call);
    case 'lease':
      return indexLease(idx, call);
    case 'ack':
    case 'nack':
    case 'release':
    case 'extend':
      return indexAttempt(idx, call, call.f);
    case 'cancel': {
      const v = call.invoke.value;
      if (isRecord(v) && typeof v['taskId'] === 'string') idx.cancels.push({ call, taskId: v['taskId'] });
      else idx.malformed += 1;
      return;
    }
    case 'read':
      return indexRead(idx, call);
    default:
      idx.malformed += 1;
  }
}

function valueInfo(idx: HistoryIndex, value: string): ValueInfo {
  let info = idx.values.get(value);
  if (info === undefined) {
    info = {
      value,
      producer: '',
      seq: -1,
      group: undefined,
      enqueues: [],
      taskIds: new Set(),
      leased: false,
      inRead: false,
    };
    idx.values.set(value, info);
  }
  return info;
}

function indexEnqueue(idx: HistoryIndex, call: Call): void {
  const v = call.invoke.value;
  if (!isEnqueueValue(v)) {
    idx.malformed += 1;
    return;
  }
  const answer = call.outcome === 'ok' ? call.completion?.value : undefined;
  const taskId = isRecord(answer) && typeof answer['taskId'] === 'string' ? answer['taskId'] : undefined;
  if (call.outcome === 'ok' && taskId === undefined) idx.malformed += 1;
  const e: EnqueueCall = { call, value: v, taskId };
  idx.enqueues.push(e);
  const info = valueInfo(idx, v.value);
  info.producer = v.producer;
  info.seq = v.seq;
  info.group = v.group;
  info.enqueues.push(e);
  if (taskId !== undefined) info.taskIds.add(taskId);
}

function indexLease(idx: HistoryIndex, call: Call): void {
  if (call.outcome !== 'ok') return;
  const v = call.completion?.value;
  if (v === null || (isRecord(v) && v['taskId'] === undefined)) return; // nothing to lease: an empty answer
  if (!isLeaseGrant(v)) {
    idx.malformed += 1;
    return;
  }
  const token = parseToken(v.token);
  if (token === undefined) return;
  idx.grants.push({
    call,
    taskId: v.taskId,
    token,
    value: v.value,
    group: v.group,
    beliefStart: v.beliefStart,
    beliefEnd: v.beliefEnd,
    heldEnd: v.beliefEnd,
  });
  if (typeof v.derivedFrom === 'string') return; // a copy is not a new enqueue of its value
  const info = valueInfo(idx, v.value);
  info.leased = true;
  info.taskIds.add(v.taskId);
}

function indexAttempt(idx: HistoryIndex, call: Call, f: AttemptCall['f']): void {
  const v = call.invoke.value;
  const token = isAttemptValue(v) ? parseToken(v.token) : undefined;
  if (!isAttemptValue(v) || token === undefined) {
    idx.malformed += 1;
    return;
  }
  const answer = call.completion?.value;
  const beliefEnd =
    f === 'extend' && call.outcome === 'ok' && isRecord(answer) && typeof answer['beliefEnd'] === 'number'
      ? answer['beliefEnd']
      : undefined;
  idx.attempts.push({ call, f, taskId: v.taskId, token, dead: v.dead === true, beliefEnd });
}

function indexRead(idx: HistoryIndex, call: Call): void {
  if (call.outcome !== 'ok') return;
  const v = call.completion?.value;
  const tasks = isRecord(v) && Array.isArray(v['tasks']) ? (v['tasks'] as unknown[]) : undefined;
  if (tasks === undefined || call.node === undefined) {
    idx.malformed += 1;
    return;
  }
  const good = tasks.filter(isFinalTask);
  idx.malformed += tasks.length - good.length;
  idx.reads.set(call.node, good);
  for (const t of good) {
    if (typeof t.derivedFrom === 'string') continue;
    const info = valueInfo(idx, t.value);
    info.inRead = true;
    info.taskIds.add(t.taskId);
  }
}

function indexEvent(idx: HistoryIndex, op: Op): void {
  const v: unknown = op.value;
  if (op.f === 'fault' && isRecord(v) && typeof v['kind'] === 'string' && isFaultAction(v['action'])) {
    const fault = v as unknown as FaultValue;
    const since = typeof fault.since === 'number' && fault.since <= op.time ? { since: fault.since } : {};
    idx.faults.push({ time: op.time, kind: fault.kind, action: fault.action, ...since });
  } else if (op.f === 'leader' && isRecord(v) && typeof v['node'] === 'string' && typeof v['term'] === 'number') {
    idx.leaders.push({ node: v['node'], term: v['term'] });
  } else {
    idx.malformed += 1;
  }
}

function isFaultAction(v: unknown): v is 'start' | 'stop' {
  return v === 'start' || v === 'stop';
}

export function attemptKey(taskId: string, token: bigint): string {
  return `${taskId}\u0000${token}`;
}

/** Applies ok extends to belief ends, then cuts each interval at the holder's first end op. */
function finishGrants(idx: HistoryIndex): void {
  const extendedEnd = new Map<string, number>();
  const firstEndInvoke = new Map<string, number>();
  for (const a of idx.attempts) {
    const key = attemptKey(a.taskId, a.token);
    if (a.f === 'extend') {
      if (a.beliefEnd !== undefined) extendedEnd.set(key, Math.max(extendedEnd.get(key) ?? -Infinity, a.beliefEnd));
      continue;
    }
    firstEndInvoke.set(key, Math.min(firstEndInvoke.get(key) ?? Infinity, a.call.invokeTime));
  }
  for (const g of idx.grants) {
    const key = attemptKey(g.taskId, g.token);
    g.beliefEnd = Math.max(g.beliefEnd, extendedEnd.get(key) ?? -Infinity);
    g.heldEnd = Math.max(g.beliefStart, Math.min(g.beliefEnd, firstEndInvoke.get(key) ?? Infinity));
  }
}
