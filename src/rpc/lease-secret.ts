// Draws lease-holder secrets (src/protocol/lease-secret.ts) for the lease commands this node takes:
// crypto-random in a node. In the deterministic simulation (a clock injected) they are derived from a
// counter and the clock, drawing nothing from its random(), so a run still replays from its seed and
// keeps the trajectory it had before secrets existed.
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../client/clock.js';
import { LEASE_SECRET_BYTES } from '../protocol/lease-secret.js';

export type SecretSource = () => string;

/** Secrets drawn per pool of this many bytes: one crypto draw per 170 leases, not one each (issue 11). */
const POOL_BYTES = 4080;
let pool = Buffer.alloc(0);
let used = 0;

export const cryptoSecrets: SecretSource = () => {
  if (used + LEASE_SECRET_BYTES > pool.length) {
    pool = randomBytes(POOL_BYTES);
    used = 0;
  }
  const secret = pool.toString('base64url', used, used + LEASE_SECRET_BYTES);
  pool.fill(0, used, used + LEASE_SECRET_BYTES); // a drawn secret lives on in its lease, not here too
  used += LEASE_SECRET_BYTES;
  return secret;
};

/** Predictable secrets for simulations only. */
export function clockSecrets(clock: Clock): SecretSource {
  let n = 0;
  return () =>
    createHash('sha256').update(`${++n}/${clock.now()}`).digest().subarray(0, LEASE_SECRET_BYTES).toString('base64url');
}
