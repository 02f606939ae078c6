// Cancelling a task that is running (docs/workflows.md): `cancel` on a leased task only marks it
// cancel-requested, since the worker holding it must learn it and stop. Its extends are answered
// CANCELLED (the lease is not extended); whichever way its attempt ends — ack, nack, release or the
// lease running out — the task ends `cancelled`, never retried and never dead-lettered.

import type { Answer } from '../protocol/index.js';
import { assert } from '../protocol/assert.js';
import { mut } from './digest.js';
import { afterTerminal, endAttempt, toTerminal } from './placement.js';
import type { Task } from './records.js';
import { S_CANCELLED, S_LEASED, T_CANCELLED } from './records.js';
import type { MachineState } from './state.js';
import { copyBytes, err, ev, ok } from './state.js';
import { note } from './story.js';

/** How a cancel-requested attempt ended. */
export type CancelledEnd = 'acked' | 'nacked' | 'released' | 'lease_expired';

export function cancelRequested(t: Task): boolean {
  return t.x?.cancelReq === true;
}

/** The answer to `cancel` of a leased task: it stays leased, marked; a repeat changes nothing. */
export function requestCancel(st: MachineState, t: Task): Answer {
  assert(t.state === S_LEASED, 'only a leased task gets a cancel request');
  if (!cancelRequested(t)) {
    mut(st, t, () => {
      t.extra().cancelReq = true;
      note(st, t, 'cancel_requested', `while attempt ${t.leases} ran (token ${t.token})`);
    });
    ev(st, t, 'updated', 'cancel_requested');
  }
  return ok({ state: 'leased', cancelRequested: true });
}

/** What an extend of a cancel-requested task gets: its worker should stop, then ack or nack. */
export function cancelledExtend(t: Task): Answer {
  return err('CANCELLED', `task ${t.id} was cancelled while it ran: stop, then ack or nack it`, {
    reason: 'cancelled',
  });
}

/**
 * The attempt of a cancel-requested task ended: the task ends `cancelled`. An ack keeps its result
 * (the work may have finished); the answer a repeat of this ending gets is `{ state: 'cancelled' }`.
 */
export function endCancelled(
  st: MachineState,
  t: Task,
  end: CancelledEnd,
  error: string | null,
  result?: Uint8Array,
): Answer {
  assert(t.state === S_LEASED && cancelRequested(t), 'only a cancel-requested lease ends cancelled');
  const answer = { state: 'cancelled' };
  mut(st, t, () => {
    endAttempt(st, t, end, error, end === 'lease_expired' ? null : answer);
    if (result !== undefined) t.extra().result = copyBytes(result);
    if (error !== null) t.extra().lastError = error;
    toTerminal(st, t, S_CANCELLED, 'cancelled');
  });
  afterTerminal(st, t, T_CANCELLED, 'cancelled');
  return ok(answer);
}
