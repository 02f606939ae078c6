// Lease and its endings (docs/design.md §1.4): lease grants the ready tasks of a queue, fenced by the
// granting entry's index; ack / nack / release / extend check (id, token) and the deadline. A repeat
// of how an attempt already ended returns the stored original answer.

import type { AckItem, Answer, CommandOf, LeasedTask, NackAnswer, QueueSettings } from '../protocol/index.js';
import { formatId, parseId } from '../protocol/index.js';
import { assert } from '../protocol/assert.js';
import { hashInts } from './hash.js';
import { afterDead } from './deadletters.js';
import { bumpTotal, mut } from './digest.js';
import { afterTerminal, eligible, endAttempt, toDelayed, toLeased, toTerminal, toWaiting } from './placement.js';
import type { Attempt } from './records.js';
import { S_COMPLETED, S_DEAD, S_LEASED, S_WAITING, T_COMPLETED, T_FAILED, Task } from './records.js';
import type { MachineState } from './state.js';
import { copyBytes, err, ev, ok } from './state.js';
import { canPick, charge, fits, hold, pick } from './limits.js';
import { expireTtl, ttlDue } from './time.js';
import { cancelRequested, cancelledExtend, endCancelled } from './cancel.js';
import { note } from './story.js';
import { holderRefusal, keepSecret } from './lease-secret.js';
import { payloadBytes } from './payloads.js';

const EMPTY_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

export function backoffDelay(settings: QueueSettings, taskId: number, attempts: number): number {
  const b = settings.backoff;
  let d = b.delayMs;
  if (b.type === 'exponential') {
    const shift = Math.min(attempts - 1, 40);
    d = Math.min(b.maxDelayMs, b.delayMs * 2 ** shift);
  }
  const spread = Math.floor((d * b.jitterPct) / 100);
  return spread > 0 ? d - (hashInts(taskId, attempts) % (spread + 1)) : d;
}

/** Ready, not paused and within its limits: a lease on this queue now would grant a task. */
export function hasReady(st: MachineState, queue: string): boolean {
  const q = st.queues.get(queue);
  if (q === undefined || q.settings.paused || q.deleting) return false;
  return canPick(st, q);
}

/**
 * Whether a plain task (no delay, key, group or dependencies) enqueued on `queue` now could be leased
 * in the same entry: the queue is absent (the enqueue creates it) or open, below its concurrency and
 * without a rate. The leader uses it to let held leases ride the enqueue's entry (lease-hold.ts).
 */
export function takesPlainWork(st: MachineState, queue: string): boolean {
  const q = st.queues.get(queue);
  if (q === undefined) return true;
  if (q.settings.paused || q.deleting || (q.settings.rate ?? null) !== null) return false;
  return fits(q.lim.inUse, 1, q.settings.concurrency);
}

export function lease(st: MachineState, cmd: CommandOf<'lease'>): Answer {
  const q = st.queues.get(cmd.queue);
  const out: LeasedTask[] = [];
  if (q === undefined || q.settings.paused || q.deleting) return ok({ tasks: out });
  // Expired-by-TTL candidates are skipped inline; bound that work too.
  let skips = st.limits.transitionsPerEntryMax;
  while (out.length < cmd.max) {
    const t = pick(st, q);
    if (t === null) break;
    if (ttlDue(st, t)) {
      if (skips-- <= 0) break;
      expireTtl(st, t);
      continue;
    }
    charge(st, t);
    out.push(grant(st, t, cmd.workerId, cmd.leaseMs, cmd.secret));
  }
  return ok({ tasks: out });
}

function grant(
  st: MachineState,
  t: Task,
  worker: string,
  leaseMsCmd: number | undefined,
  secret: string | undefined,
): LeasedTask {
  assert(t.state === S_WAITING && eligible(t), 'only a ready task is leased');
  assert(st.index > t.token, 'fencing tokens increase');
  const leaseMs = leaseMsCmd ?? t.x?.leaseMs ?? t.q.settings.leaseMs;
  const limit = st.limits.historyMax;
  mut(st, t, () => {
    const due = st.mono + leaseMs;
    toLeased(st, t, due);
    t.leases++;
    t.token = st.index;
    t.worker = worker;
    t.leaseMsCur = leaseMs;
    if (t.x !== undefined) t.x.progress = undefined;
    keepSecret(t, secret);
    const a: Attempt = {
      token: st.index,
      worker,
      leasedMono: st.mono,
      leasedWall: st.wall,
      end: null,
      endedMono: null,
      error: null,
      answer: null,
      leasedTerm: st.term,
      endedIndex: null,
      endedTerm: null,
    };
    // A first attempt's array holds exactly one slot: push() on [] reserves 17 (D: retained tasks).
    const h = t.history;
    if (h === undefined) t.history = limit >= 1 ? [a] : [];
    else {
      h.push(a);
      if (h.length > limit) h.splice(0, h.length - limit);
    }
  });
  assert(t.token === st.index && st.index === st.applied, "a grant's token is its entry's index");
  ev(st, t, 'leased');
  const lt: LeasedTask = {
    id: formatId(t.id),
    queue: t.q.name,
    token: formatId(t.token),
    payload: payloadBytes(t),
    headers: t.headers ?? EMPTY_HEADERS,
    priority: t.priority,
    deadlineMono: t.dueMono,
    leaseMs,
    attempts: t.attempts,
    deliveries: t.deliveries,
    leases: t.leases,
  };
  if (t.x?.checkpoint !== undefined) lt.checkpoint = t.x.checkpoint;
  if (t.x?.group !== undefined) lt.group = t.x.group;
  if (t.x?.limitKey !== undefined) lt.key = t.x.limitKey;
  if (t.x?.cost !== undefined) lt.cost = t.x.cost;
  if (secret !== undefined) lt.secret = secret;
  return lt;
}

function findAttempt(t: Task, token: number): Attempt | undefined {
  const h = t.history;
  if (h === undefined) return undefined;
  for (let i = h.length - 1; i >= 0; i--) if ((h[i] as Attempt).token === token) return h[i];
  return undefined;
}

/**
 * Shared checks of ack / nack / extend / release. A repeat of how this attempt already ended
 * returns the original answer (checked first, docs/design.md §1.4); then token and deadline.
 * The task when they pass, else the answer. `secretField`: a number n names an ack's `items[n].secret`
 * (the name is built only for a refusal).
 */
function checkLease(
  st: MachineState,
  idStr: string,
  tokenStr: string,
  end: string | null,
  secret: string | undefined,
  secretField: string | number = 'secret',
): Task | Answer {
  const id = parseId(idStr) as number;
  const token = parseId(tokenStr) as number;
  const t = st.tasks.get(id);
  if (t === undefined) return err('NOT_FOUND', `no task ${idStr}`);
  if (end !== null) {
    const a = findAttempt(t, token);
    if (a !== undefined && a.end === end) return ok(a.answer);
  }
  if (token >= st.index) return err('LEASE_LOST', 'token from the future');
  if (t.state !== S_LEASED || t.token !== token) return err('LEASE_LOST', 'not the current lease');
  if (t.dueMono <= st.mono) return err('LEASE_LOST', 'lease deadline passed');
  const refused = holderRefusal(t, secret, secretField);
  return refused === null ? t : refused;
}

export function ack(st: MachineState, cmd: CommandOf<'ack'>): Answer {
  const items: Answer[] = [];
  for (let i = 0; i < cmd.items.length; i++) items.push(ackOne(st, cmd.items[i] as AckItem, i));
  return ok({ items });
}

function ackOne(st: MachineState, item: AckItem, i: number): Answer {
  const { id, token, result } = item;
  const t = checkLease(st, id, token, 'acked', item.secret, i);
  if (!(t instanceof Task)) return t;
  if (cancelRequested(t)) return endCancelled(st, t, 'acked', null, result);
  const answer = { state: 'completed' };
  mut(st, t, () => {
    endAttempt(st, t, 'acked', null, answer);
    t.worker = undefined;
    if (result !== undefined) t.extra().result = copyBytes(result);
    toTerminal(st, t, S_COMPLETED, 'acked');
  });
  afterTerminal(st, t, T_COMPLETED, 'completed');
  st.counters.completed++;
  return ok(answer);
}

export function nack(st: MachineState, cmd: CommandOf<'nack'>): Answer {
  const t = checkLease(st, cmd.id, cmd.token, 'nacked', cmd.secret);
  if (!(t instanceof Task)) return t;
  if (cancelRequested(t)) return endCancelled(st, t, 'nacked', cmd.error ?? null);
  const maxAttempts = t.x?.maxAttempts ?? t.q.settings.maxAttempts;
  const answer: NackAnswer = { state: 'waiting' };
  mut(st, t, () => {
    t.attempts++;
    t.worker = undefined;
    if (cmd.error !== undefined) t.extra().lastError = cmd.error;
    if (cmd.dead === true || t.attempts >= maxAttempts) {
      answer.state = 'dead';
      toTerminal(st, t, S_DEAD, cmd.dead === true ? 'nacked_dead' : 'max_attempts');
    } else {
      const own = t.x?.backoff;
      const s = own === undefined ? t.q.settings : { ...t.q.settings, backoff: { ...t.q.settings.backoff, ...own } };
      const delay = cmd.delayMs ?? backoffDelay(s, t.id, t.attempts);
      if (delay > 0) {
        answer.state = 'delayed';
        answer.runAtMono = st.mono + delay;
        toDelayed(st, t, st.mono + delay, false);
      } else toWaiting(st, t);
      note(st, t, 'retry', retryDetail(delay, cmd.delayMs !== undefined, t.attempts, maxAttempts));
    }
    endAttempt(st, t, 'nacked', cmd.error ?? null, answer);
  });
  bumpTotal(st, t.q, T_FAILED);
  st.counters.nacked++;
  if (t.state === S_DEAD) {
    afterDead(st, t);
    // The dead-letter id is filled in after the fact; the stored answer object is the same one.
    const dl = t.x?.deadLetterId;
    if (dl !== undefined) mut(st, t, () => (answer.deadLetterId = formatId(dl)));
  } else ev(st, t, 'failed');
  return ok(answer);
}

/** The story's retry step: when the task runs again and why then. */
function retryDetail(delay: number, asked: boolean, attempts: number, maxAttempts: number): string {
  const when = delay > 0 ? `in ${delay} ms (${asked ? 'delay asked by the worker' : 'backoff'})` : 'at once';
  return `${when}; ${attempts} of ${maxAttempts} attempts failed`;
}

/** The story's extend step: `progress` when it reports progress or a checkpoint, else `extended`. */
function extendNote(
  st: MachineState,
  t: Task,
  leaseMs: number,
  progress: number | undefined,
  checkpoint: Uint8Array | undefined,
): void {
  const parts = [`lease ${leaseMs} ms`];
  if (progress !== undefined) parts.push(`progress ${progress}`);
  if (checkpoint !== undefined) parts.push(`checkpoint ${checkpoint.byteLength} bytes`);
  note(st, t, parts.length > 1 ? 'progress' : 'extended', parts.join(', '));
}

export function release(st: MachineState, cmd: CommandOf<'release'>): Answer {
  const t = checkLease(st, cmd.id, cmd.token, 'released', cmd.secret);
  if (!(t instanceof Task)) return t;
  if (cancelRequested(t)) return endCancelled(st, t, 'released', null);
  const answer = { state: 'waiting' };
  mut(st, t, () => {
    endAttempt(st, t, 'released', null, answer);
    t.worker = undefined;
    toWaiting(st, t);
  });
  if (cmd.holdMs !== undefined) hold(st, t, cmd.holdMs);
  ev(st, t, 'released');
  return ok(answer);
}

export function extend(st: MachineState, cmd: CommandOf<'extend'>): Answer {
  const t = checkLease(st, cmd.id, cmd.token, null, cmd.secret);
  if (!(t instanceof Task)) return t;
  if (cancelRequested(t)) return cancelledExtend(t);
  mut(st, t, () => {
    const leaseMs = cmd.leaseMs ?? t.leaseMsCur ?? t.q.settings.leaseMs;
    t.leaseMsCur = leaseMs;
    t.dueMono = st.mono + leaseMs;
    st.leaseHeap.update(t);
    if (cmd.progress !== undefined) t.extra().progress = cmd.progress;
    if (cmd.checkpoint !== undefined) t.extra().checkpoint = copyBytes(cmd.checkpoint);
    extendNote(st, t, leaseMs, cmd.progress, cmd.checkpoint);
  });
  ev(st, t, 'extended');
  return ok({ deadlineMono: t.dueMono });
}
