// The low-level consumer API (issue 18, docs/sdk.md "Leasing by hand"): lease tasks with decoded
// payloads, tokens and belief deadlines, and settle them by (id, token) — each refusal the typed
// error of the table. The Worker is one consumer; batch jobs and adapters drive leases with this.
import type { CommandOf, LeasedTask, TaskState } from '../protocol/commands.js';
import { READ_WIRE } from '../protocol/wire-reads.js';
import { asObject } from '../protocol/wire-values.js';
import type { CallOptions, Client, CommandOptions, Lane } from './client.js';
import { decodePayload, userHeaders } from './codec.js';
import { errorFromDetail, raftqError, type RaftqError } from './errors.js';
import { marginMinMs } from './worker-belief.js';

export interface LeaseOptions extends CallOptions {
  /** At most this many tasks (default 1). */
  max?: number;
  /** Lease length (default: the queue's leaseMs). */
  leaseMs?: number;
  /** Hold the request up to this long while the queue has no ready task (default 0: answer at once). */
  waitMs?: number;
  /** Names the consumer in task views and events (default `manual`). */
  workerId?: string;
  /**
   * The session that carries the request: `poll` is the client's second one, so that requests held
   * on the leader (waitMs) do not pin the main session (what the Worker does). Default `main`.
   */
  lane?: Lane;
  /** The belief margin subtracted in beliefDeadline (default and minimum: 500 ms + 0.2 % of leaseMs + waitMs). */
  margin?: number;
}

/** One lease request's answer: its leases, and when it was sent and held (for a polling loop's back-off). */
export interface LeaseRound<T = unknown> {
  leases: Lease<T>[];
  /** First send of the request, on `client.clock.now()`. */
  sentAt: number;
  /**
   * How long the leader held the request before granting (≤ waitMs), counted in `grantedBy`; 0 when
   * the request was sent more than once (the answer may be an earlier attempt's grant, from before
   * the answering attempt's hold).
   */
  heldMs: number;
}

/** One leased task, as `queue.lease()` hands it out. */
export interface Lease<T = unknown> {
  id: string;
  queue: string;
  /** Fencing token of this lease: pass it to ack / nack / extend / release (and downstream systems). */
  token: string;
  payload: T;
  /** Set instead of payload when the payload cannot be decoded (nack it with deadLetter: true). */
  payloadError?: string;
  /**
   * Set instead of payload when it could not be read (a lease answer replayed from the session cache
   * carries none; the read by id failed or outlasted beliefDeadline): the task is healthy — release it.
   */
  payloadReadError?: Error;
  headers: Record<string, string>;
  priority: number;
  attempts: number;
  deliveries: number;
  leases: number;
  group?: string;
  /** Limit key and cost, when the task has them. */
  key?: string;
  cost?: number;
  /** The last checkpoint saved by extend, decoded. */
  checkpoint?: unknown;
  leaseMs: number;
  /** First send of the lease request + the time the leader held it: the earliest the grant can exist. */
  grantedBy: number;
  /**
   * Until when (on `client.clock.now()`, ms) you may believe you hold the lease: first send of the
   * lease request + heldMs + leaseMs − margin (docs/design.md §2). Stop work and side effects then.
   */
  beliefDeadline: number;
}

export interface ReleaseOptions extends CallOptions {
  /** A downstream system said 429: hold the task's limit key back this long (docs/sdk.md). */
  holdKeyMs?: number;
}

export interface NackOptions {
  /** Retry after this delay instead of the queue's backoff. */
  delayMs?: number;
  /** Dead-letter now instead of retrying. */
  deadLetter?: boolean;
  /** Why it failed (kept as the task's last error). */
  error?: string;
}

export interface ExtendOptions {
  /** New lease length from now (default: the lease's current one). */
  leaseMs?: number;
  progress?: number;
  /** Saved with the task and handed to the next lease (encoded with the client's codec). */
  checkpoint?: unknown;
}

/** One item of ackMany: `resultBytes` is the result already encoded with the client's codec (used instead of `result`). */
export interface AckItem {
  id: string;
  token: string;
  result?: unknown;
  resultBytes?: Uint8Array;
}

export type AckOutcome = { id: string; ok: true } | { id: string; ok: false; error: RaftqError };

/** What this client leased: the lease length of each (id, token), for the belief after an extend. */
const leaseLengths = new WeakMap<Client, Map<string, number>>();
const LEASE_LENGTHS_MAX = 100_000;

function lengths(client: Client): Map<string, number> {
  let m = leaseLengths.get(client);
  if (m === undefined) leaseLengths.set(client, (m = new Map()));
  return m;
}

const key = (id: string, token: string): string => `${id}/${token}`;

export async function leaseTasks<T>(client: Client, queue: string, o: LeaseOptions): Promise<LeaseRound<T>> {
  const cmd: CommandOf<'lease'> = { type: 'lease', queue, workerId: o.workerId ?? 'manual', max: o.max ?? 1 };
  if (o.leaseMs !== undefined) cmd.leaseMs = o.leaseMs;
  const call: CommandOptions = Object.assign({}, callOf(o), { idempotent: false });
  if (o.lane !== undefined) call.lane = o.lane;
  if (o.waitMs !== undefined) {
    call.holdMs = o.waitMs;
    call.extra = { maxHoldMs: o.waitMs };
  }
  const { answer, firstSentAt, resent } = await client.command(cmd, call);
  // heldMs is the answering attempt's hold. A resent lease may be answered from the session cache with
  // a grant an earlier attempt made, before that hold: then only the first send bounds the grant
  // (node simulation seed 9127 with --hold 2000: a 1,398 ms hold of a resend outlived the lease).
  const heldMs = resent ? 0 : answer.heldMs;
  const grantedBy = firstSentAt + heldMs;
  const known = lengths(client);
  // A task whose payload came with the answer (all but replays from the session cache) becomes its
  // Lease at once: no promise per task.
  let reads = false;
  const made = answer.tasks.map((l): Lease<T> | Promise<Lease<T>> => {
    if (known.size >= LEASE_LENGTHS_MAX) known.delete(known.keys().next().value as string);
    known.set(key(l.id, l.token), l.leaseMs);
    const marginMin = marginMinMs(l.leaseMs, o.waitMs ?? 0);
    const beliefDeadline = grantedBy + l.leaseMs - Math.max(marginMin, o.margin ?? marginMin);
    const q = l.queue || queue;
    if (l.payload !== undefined) return toLease<T>(client, l, q, l.payload, grantedBy, beliefDeadline);
    reads = true;
    return payloadOf(client, l, o, beliefDeadline).then((p) => toLease<T>(client, l, q, p, grantedBy, beliefDeadline));
  });
  const leases = reads ? await Promise.all(made) : (made as Lease<T>[]);
  return { leases, sentAt: firstSentAt, heldMs };
}

/**
 * The payload bytes of a task answered without them (an answer replayed from the session cache),
 * read by id — a read stopped at the belief deadline, past which the task may already be another
 * consumer's.
 */
async function payloadOf(
  client: Client,
  l: LeasedTask,
  o: CallOptions,
  beliefDeadline: number,
): Promise<Uint8Array | Error> {
  const stop = new AbortController();
  const abort = (): void => stop.abort(o.signal?.reason);
  if (o.signal?.aborted === true) abort();
  o.signal?.addEventListener('abort', abort, { once: true });
  const timer = client.clock.setTimer(Math.max(0, beliefDeadline - client.clock.now()), () =>
    stop.abort(raftqError('LEASE_LOST', `lease belief of task ${l.id} ended`)),
  );
  try {
    const call: CallOptions = { signal: stop.signal };
    if (o.timeoutMs !== undefined) call.timeoutMs = o.timeoutMs;
    const read = client.query('GetTask', READ_WIRE.GetTask.request.encode({ type: 'task', id: l.id }), call);
    // Ended by the signal, the read fails with its reason (LEASE_LOST at the belief end), not with the
    // error of the attempt it cut short.
    const reply = await untilAborted(read, stop.signal);
    const p = asObject(reply['task'])['payload'];
    if (!(p instanceof Uint8Array)) return raftqError('INTERNAL', `task ${l.id} has no payload`);
    return p;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  } finally {
    timer.cancel();
    o.signal?.removeEventListener('abort', abort);
  }
}

/** `p`, or a rejection with the signal's reason once it fires (`p` then settles unobserved). */
function untilAborted<V>(p: Promise<V>, signal: AbortSignal): Promise<V> {
  p.catch(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<V>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function toLease<T>(
  client: Client,
  l: LeasedTask,
  queue: string,
  bytes: Uint8Array | Error,
  grantedBy: number,
  beliefDeadline: number,
): Lease<T> {
  const out = {
    id: l.id,
    queue,
    token: l.token,
    headers: userHeaders(l.headers),
    priority: l.priority,
    attempts: l.attempts,
    deliveries: l.deliveries,
    leases: l.leases,
    leaseMs: l.leaseMs,
    grantedBy,
    beliefDeadline,
  } as Lease<T>;
  if (bytes instanceof Error) out.payloadReadError = bytes;
  else {
    try {
      out.payload = decodePayload(bytes, l.headers, client.codec, client.limits.payloadBytesMax) as T;
    } catch (e) {
      out.payloadError = e instanceof Error ? e.message : String(e);
    }
  }
  if (l.group !== undefined) out.group = l.group;
  if (l.key !== undefined) out.key = l.key;
  if (l.cost !== undefined) out.cost = l.cost;
  if (l.checkpoint !== undefined) {
    try {
      out.checkpoint = client.codec.decode(l.checkpoint);
    } catch {
      out.checkpoint = l.checkpoint;
    }
  }
  return out;
}

export async function ackMany(client: Client, items: ReadonlyArray<AckItem>, call: CallOptions): Promise<AckOutcome[]> {
  const cmd: CommandOf<'ack'> = {
    type: 'ack',
    items: items.map((i) => {
      const item: CommandOf<'ack'>['items'][number] = { id: i.id, token: i.token };
      if (i.resultBytes !== undefined) item.result = i.resultBytes;
      else if (i.result !== undefined) item.result = client.codec.encode(i.result);
      return item;
    }),
  };
  const { answer } = await client.command(cmd, Object.assign({}, callOf(call), { idempotent: true }));
  for (const i of items) lengths(client).delete(key(i.id, i.token));
  return answer.results.map((r) => (r.ok ? r : { id: r.id, ok: false, error: errorFromDetail(r.error) }));
}

export async function nackTask(
  client: Client,
  id: string,
  token: string,
  o: NackOptions & CallOptions,
): Promise<{ state: TaskState; deadLetterId?: string }> {
  const cmd: CommandOf<'nack'> = { type: 'nack', id, token };
  if (o.delayMs !== undefined) cmd.delayMs = o.delayMs;
  if (o.deadLetter === true) cmd.dead = true;
  if (o.error !== undefined) cmd.error = o.error;
  const { answer } = await client.command(cmd, Object.assign({}, callOf(o), { idempotent: true }));
  lengths(client).delete(key(id, token));
  const out: { state: TaskState; deadLetterId?: string } = { state: answer.state };
  if (answer.deadLetterId !== undefined) out.deadLetterId = answer.deadLetterId;
  return out;
}

export async function extendTask(
  client: Client,
  id: string,
  token: string,
  o: ExtendOptions & CallOptions,
): Promise<{ beliefDeadline: number; sentAt: number }> {
  const leaseMs = o.leaseMs ?? lengths(client).get(key(id, token));
  if (leaseMs === undefined)
    throw raftqError('INVALID_ARGUMENT', 'leaseMs: required to extend a lease this client did not grant', {
      field: 'leaseMs',
    });
  const cmd: CommandOf<'extend'> = { type: 'extend', id, token, leaseMs };
  if (o.progress !== undefined) cmd.progress = o.progress;
  if (o.checkpoint !== undefined) cmd.checkpoint = client.codec.encode(o.checkpoint);
  const { firstSentAt } = await client.command(cmd, Object.assign({}, callOf(o), { idempotent: true }));
  lengths(client).set(key(id, token), leaseMs);
  return { beliefDeadline: firstSentAt + leaseMs - marginMinMs(leaseMs, 0), sentAt: firstSentAt };
}

export async function releaseTask(client: Client, id: string, token: string, o: ReleaseOptions): Promise<TaskState> {
  const cmd: CommandOf<'release'> = { type: 'release', id, token };
  if (o.holdKeyMs !== undefined) cmd.holdMs = o.holdKeyMs;
  const { answer } = await client.command(cmd, Object.assign({}, callOf(o), { idempotent: true }));
  lengths(client).delete(key(id, token));
  return answer.state;
}

function callOf(o: CallOptions): CallOptions {
  const out: CallOptions = {};
  if (o.timeoutMs !== undefined) out.timeoutMs = o.timeoutMs;
  if (o.signal !== undefined) out.signal = o.signal;
  return out;
}
