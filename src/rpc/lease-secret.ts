// Draws lease-holder secrets (src/protocol/lease-secret.ts) for the lease commands this node takes:
// crypto-random in a node. In the deterministic simulation (a clock injected) they are derived from a
// counter and the clock, drawing nothing from its random(), so a run still replays from its seed and
// keeps the trajectory it had before secrets existed.
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../client/clock.js';
import { LEASE_SECRET_BYTES } from '../protocol/lease-secret.js';

export type SecretSource = () => string;

export const cryptoSecrets: SecretSource = () => randomBytes(LEASE_SECRET_BYTES).toString('base64url');

/** Predictable secrets for simulations only. */
export function clockSecrets(clock: Clock): SecretSource {
  let n = 0;
  return () =>
    createHash('sha256').update(`${++n}/${clock.now()}`).digest().subarray(0, LEASE_SECRET_BYTES).toString('base64url');
}
