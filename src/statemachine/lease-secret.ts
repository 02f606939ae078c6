// Lease-holder secrets in the state machine (issue #14, src/protocol/lease-secret.ts): a grant keeps
// its lease command's secret in each granted task; ack / nack / extend / release of that lease must
// present it, else PERMISSION_DENIED naming the field. Leases granted without one (entries written
// before secrets, direct state-machine use) are checked by (id, token) alone, as before.
import type { Answer } from '../protocol/index.js';
import type { Task } from './records.js';
import { err } from './state.js';

/**
 * Null when `secret` proves the holder of t's current lease; else the refusal naming `field` (a
 * number n: an ack's `items[n].secret`, so the hot path builds no name for a lease that passes).
 */
export function holderRefusal(t: Task, secret: string | undefined, fieldOrItem: string | number): Answer | null {
  const want = t.x?.leaseSecret;
  if (want === undefined || secret === want) return null;
  const field = typeof fieldOrItem === 'number' ? `items[${fieldOrItem}].secret` : fieldOrItem;
  const why =
    secret === undefined
      ? 'required: this lease was granted with a holder secret, and only its holder may end or extend it'
      : "does not match this lease's holder secret";
  return err('PERMISSION_DENIED', `${field} ${why}`, { field });
}

/** Records (or clears) the holder secret of a grant; called inside the task's mut(). */
export function keepSecret(t: Task, secret: string | undefined): void {
  if (secret !== undefined) t.extra().leaseSecret = secret;
  else if (t.x !== undefined) t.x.leaseSecret = undefined;
}
