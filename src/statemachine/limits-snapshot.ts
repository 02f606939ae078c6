// Limiters in snapshots (format raftq-sm/4): per queue, its limiter and limit keys with their
// replicated fields and where they sit, so a restored replica's scheduler and wake heap match the
// original's exactly. Counts and ready heaps are rebuilt from the tasks.

import { addLimiter } from './limits.js';
import type { Queue } from './records.js';
import { LimitKey, W_NONE, W_SCHED, W_WAKE } from './records.js';
import type { MachineState } from './state.js';

/** name (null: the queue's limiter), vtime, tokens, tokensAt, heldUntil, where, wakeAt. */
export type LimiterRow = [string | null, number, number, number, number, number, number];

export function limiterRow(k: LimitKey): LimiterRow {
  return [k.name, k.vtime, k.tokens, k.tokensAt, k.heldUntil, k.where, k.wakeAt];
}

function fail(msg: string): never {
  throw new Error(`restore: ${msg}`);
}

/** Before the tasks are rebuilt: the stored limiters, fields set, placed by placeLimiters. */
export function restoreLimiters(m: MachineState, qn: string, rows: LimiterRow[]): void {
  const q = m.queues.get(qn) ?? fail(`limiters of unknown queue ${qn}`);
  for (const [name, vtime, tokens, tokensAt, heldUntil, where, wakeAt] of rows) {
    let k = name === null ? q.lim : q.k0;
    if (name !== null && name !== '') {
      k = new LimitKey(q, name);
      q.lkeys.set(name, k);
    }
    k.vtime = vtime;
    k.tokens = tokens;
    k.tokensAt = tokensAt;
    k.heldUntil = heldUntil;
    if (where !== W_NONE && where !== W_SCHED && where !== W_WAKE) fail(`limiter of ${qn} in no known place`);
    k.where = where;
    k.wakeAt = wakeAt;
  }
}

/**
 * After the tasks are rebuilt: every limiter into its heap and the limits digest lane. Without
 * stored rows (formats 2 and 3, before limits) a key with a ready task is eligible: nothing limited.
 */
export function placeLimiters(m: MachineState, stored: boolean): void {
  m.lsum.a = 0;
  m.lsum.b = 0;
  for (const q of m.queues.values()) {
    for (const k of [q.lim, ...q.lkeys.values()]) {
      if (!stored) k.where = k.name !== null && k.ready.size > 0 ? W_SCHED : W_NONE;
      place(m, q, k);
      k.a = 0;
      k.b = 0;
      addLimiter(m, k);
    }
  }
}

function place(m: MachineState, q: Queue, k: LimitKey): void {
  if (k.where === W_SCHED) {
    if (k.name === null || k.ready.size === 0) fail(`limiter of ${q.name} scheduled without a ready task`);
    q.sched.push(k);
  } else if (k.where === W_WAKE) m.wake.push(k);
}
