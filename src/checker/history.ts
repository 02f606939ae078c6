// The history vocabulary of the demo and the jepsen-like suite: Jepsen-form operations, the final
// observations collected after the heal, and a recorder. Pure data; the caller does all I/O.
//
// Time: every `time` (and every belief bound) is a float in milliseconds on ONE monotonic clock of the
// recording process (performance.now() by default). Wall clocks never appear in a history, so the
// clock faults injected into nodes cannot distort the checker's real-time reasoning.

export type ProcessId = number | string;
export type OpType = 'invoke' | 'ok' | 'fail' | 'info';
/** Milliseconds on the recorder's monotonic clock. */
export type MonoMs = number;

export type TaskState =
  'waiting' | 'delayed' | 'leased' | 'completed' | 'dead' | 'cancelled' | 'expired' | 'waiting-children';
export const terminalStates: ReadonlySet<TaskState> = new Set(['completed', 'dead', 'cancelled', 'expired']);

/** Every enqueue carries a unique `value` (also inside the task's payload, so a lease reveals it). */
export interface EnqueueValue {
  producer: string;
  seq: number;
  value: string;
  queue?: string;
  idempotencyKey?: string;
  group?: string;
  /** Set on `ok`: the id the broker answered. */
  taskId?: string;
  deduplicated?: boolean;
}

export interface LeaseRequestValue {
  worker?: string;
  queue?: string;
}

/**
 * One granted lease (record each grant of a batch lease as its own invoke/ok pair).
 * `beliefStart`: when the worker learned it holds the lease (the response's arrival);
 * `beliefEnd`: the SDK's belief deadline (docs/design.md §2). The checker ends the interval earlier
 * at the invoke of the first ack / nack / release the holder sends with this token.
 */
export interface LeaseGrant {
  taskId: string;
  /** The fencing token, a decimal string (the granting entry's log index). */
  token: string;
  value: string;
  beliefStart: MonoMs;
  beliefEnd: MonoMs;
  group?: string;
  /** Set on a dead-letter copy or a redriven task: the task it was made from (same payload, new id). */
  derivedFrom?: string;
}

/** ack / nack / release / extend name the attempt they act on. */
export interface AttemptValue {
  taskId: string;
  token: string;
  result?: unknown;
  /** nack only: the task was dead-lettered (terminal). */
  dead?: boolean;
  /** extend `ok` only: the new belief deadline. */
  beliefEnd?: MonoMs;
}

export interface CancelValue {
  taskId: string;
}

export interface FinalTask {
  taskId: string;
  value: string;
  state: TaskState;
  group?: string;
  /** Set on a dead-letter copy or a redriven task: the task it was made from (same payload, new id). */
  derivedFrom?: string;
}

/** A final read through one node (the op's `node`), after heal and drain. */
export interface ReadValue {
  tasks: FinalTask[];
}

/** Nemesis events: `{process: 'nemesis', type: 'info', f: 'fault', value: {kind, action}}`. */
export interface FaultValue {
  kind: string;
  action: 'start' | 'stop';
  target?: string;
  /**
   * When the fault was injected, if before the op's time: a start recorded once the fault is known
   * to hold (a killed process has exited) carries the signal's time here. Failover is measured from
   * `since`, over calls invoked after the op (earlier ones may still have been served by the
   * faulted node, e.g. a leader answering in the instant before SIGKILL took effect).
   */
  since?: MonoMs;
}

/** An observation that `node` became (or was seen as) leader of `term`. */
export interface LeaderValue {
  node: string;
  term: number;
}

interface OpBase {
  process: ProcessId;
  type: OpType;
  time: MonoMs;
  node?: string;
  /** The stable error code on fail / info (e.g. LEASE_LOST, DEADLINE_EXCEEDED). */
  error?: string;
}

export type EnqueueOp = OpBase & { f: 'enqueue'; value: EnqueueValue };
/** An `ok` lease carries a LeaseGrant, or null when nothing was leasable (not a grant). */
export type LeaseOp = OpBase & { f: 'lease'; value: LeaseGrant | LeaseRequestValue | null };
export type AttemptOp = OpBase & { f: 'ack' | 'nack' | 'release' | 'extend'; value: AttemptValue };
export type CancelOp = OpBase & { f: 'cancel'; value: CancelValue };
export type ReadOp = OpBase & { f: 'read'; value: ReadValue | null };
export type FaultOp = OpBase & { f: 'fault'; value: FaultValue };
export type LeaderOp = OpBase & { f: 'leader'; value: LeaderValue };
export type Op = EnqueueOp | LeaseOp | AttemptOp | CancelOp | ReadOp | FaultOp | LeaderOp;
export type OpKind = Op['f'];
export type History = readonly Op[];

/** A probe after the last heal: an enqueue → lease → ack round trip through `node` (docs/faults.md L1). */
export interface RecoveryProbe {
  node: string;
  time: MonoMs;
  ok: boolean;
}

export interface DigestPoint {
  index: number;
  digest: string;
}

/** White-box and post-heal observations gathered at the end of a run. */
export interface FinalObservations {
  /** Every node expected to take part; defaults to the keys of `digests`. */
  nodes?: string[];
  /** Per node, its `(index, digest)` pairs. */
  digests: Record<string, DigestPoint[]>;
  /** When the last fault was healed (absent: no fault was injected). */
  healTime?: MonoMs;
  recovery?: RecoveryProbe[];
}

/** One line of a history file: an op, or the final section (written last). */
export type HistoryLine = Op | { final: FinalObservations };

export interface ParsedHistory {
  ops: Op[];
  final: FinalObservations | undefined;
  /** Lines that were not JSON or not op-shaped: a harness bug, reported by the checker. */
  malformedLines: number;
}

const opTypes: ReadonlySet<string> = new Set(['invoke', 'ok', 'fail', 'info']);
const opKinds: ReadonlySet<string> = new Set([
  'enqueue',
  'lease',
  'ack',
  'nack',
  'release',
  'extend',
  'cancel',
  'read',
  'fault',
  'leader',
]);

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Only the envelope is checked here; values are validated where they are used. */
export function isOpShaped(v: unknown): v is Op {
  if (!isRecord(v)) return false;
  const p = v['process'];
  return (
    (typeof p === 'number' || typeof p === 'string') &&
    typeof v['type'] === 'string' &&
    opTypes.has(v['type']) &&
    typeof v['f'] === 'string' &&
    opKinds.has(v['f']) &&
    typeof v['time'] === 'number' &&
    Number.isFinite(v['time'])
  );
}

/** Parses JSON lines; never throws. */
export function parseHistory(text: string): ParsedHistory {
  const ops: Op[] = [];
  let final: FinalObservations | undefined;
  let malformedLines = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      malformedLines += 1;
      continue;
    }
    if (isRecord(parsed) && 'final' in parsed && isFinalShaped(parsed['final'])) final = parsed['final'];
    else if (isOpShaped(parsed)) ops.push(parsed);
    else malformedLines += 1;
  }
  return { ops, final, malformedLines };
}

function isFinalShaped(v: unknown): v is FinalObservations {
  return isRecord(v) && isRecord(v['digests']);
}

export interface HistoryRecorderOptions {
  /** The monotonic clock, in ms. Defaults to performance.now(). */
  now?: () => MonoMs;
  /** Receives each op as one JSON line (with its newline) as it is recorded: stream it to a file. */
  write?: (line: string) => void;
  /** Keep ops in memory (default true); a long run that only streams may turn this off. */
  keep?: boolean;
}

/** An invoked operation awaiting its outcome; complete it exactly once. */
export interface PendingOp<F extends OpKind> {
  readonly f: F;
  readonly process: ProcessId;
  readonly invokeTime: MonoMs;
  ok(value: unknown): void;
  /** Certainly not applied (e.g. LEASE_LOST, NOT_LEADER). */
  fail(error: string, value?: unknown): void;
  /** Indeterminate: may or may not have taken effect (timeouts, dropped connections). */
  info(error: string, value?: unknown): void;
}

/**
 * Appends ops in order. A process must be sequential: it may have at most one open invoke.
 * After an `info` outcome Jepsen retires the process id; here the harness may keep it, because
 * pairing never looks past the next completion.
 */
export class HistoryRecorder {
  readonly #now: () => MonoMs;
  readonly #write: ((line: string) => void) | undefined;
  readonly #keep: boolean;
  readonly #ops: Op[] = [];
  readonly #open = new Set<ProcessId>();
  #final: FinalObservations | undefined;
  #count = 0;

  constructor(options: HistoryRecorderOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#write = options.write;
    this.#keep = options.keep ?? true;
  }

  get size(): number {
    return this.#count;
  }

  now(): MonoMs {
    return this.#now();
  }

  /** Records an already-built op (its time is kept). */
  append(op: Op): void {
    this.#count += 1;
    if (this.#keep) this.#ops.push(op);
    this.#write?.(JSON.stringify(op) + '\n');
  }

  invoke<F extends Exclude<OpKind, 'fault' | 'leader'>>(
    process: ProcessId,
    f: F,
    value: unknown,
    node?: string,
  ): PendingOp<F> {
    if (this.#open.has(process)) throw new Error(`history: process ${String(process)} already has an open invoke`);
    this.#open.add(process);
    const invokeTime = this.#now();
    this.append(makeOp({ process, type: 'invoke', f, value, time: invokeTime, node }));
    let done = false;
    const complete = (type: OpType, value: unknown, error?: string): void => {
      if (done) throw new Error(`history: ${f} of process ${String(process)} completed twice`);
      done = true;
      this.#open.delete(process);
      this.append(makeOp({ process, type, f, value, time: this.#now(), node, error }));
    };
    return {
      f,
      process,
      invokeTime,
      ok: (v) => complete('ok', v),
      fail: (error, v) => complete('fail', v ?? value, error),
      info: (error, v) => complete('info', v ?? value, error),
    };
  }

  fault(kind: string, action: 'start' | 'stop', target?: string, since?: MonoMs): void {
    const value: FaultValue = target === undefined ? { kind, action } : { kind, action, target };
    if (since !== undefined) value.since = since;
    this.append({ process: 'nemesis', type: 'info', f: 'fault', value, time: this.#now() });
  }

  leader(node: string, term: number): void {
    this.append({ process: 'observer', type: 'info', f: 'leader', value: { node, term }, time: this.#now(), node });
  }

  /** Sets the final section; it is streamed as the last line. */
  finish(final: FinalObservations): void {
    this.#final = final;
    this.#write?.(JSON.stringify({ final }) + '\n');
  }

  ops(): readonly Op[] {
    return this.#ops;
  }

  final(): FinalObservations | undefined {
    return this.#final;
  }

  toJsonLines(): string {
    const lines = this.#ops.map((op) => JSON.stringify(op));
    if (this.#final !== undefined) lines.push(JSON.stringify({ final: this.#final }));
    return lines.join('\n') + '\n';
  }
}

function makeOp(fields: {
  process: ProcessId;
  type: OpType;
  f: OpKind;
  value: unknown;
  time: MonoMs;
  node: string | undefined;
  error?: string | undefined;
}): Op {
  const op: Record<string, unknown> = {
    process: fields.process,
    type: fields.type,
    f: fields.f,
    value: fields.value ?? null,
    time: fields.time,
  };
  if (fields.node !== undefined) op['node'] = fields.node;
  if (fields.error !== undefined) op['error'] = fields.error;
  return op as unknown as Op;
}
