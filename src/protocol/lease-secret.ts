// Lease-holder secrets (issue #14, docs/security.md): every grant carries a secret drawn by the node
// that took the lease request (never by the client), stored in the entry and in each granted task, and
// returned only in the grantee's answer. Ack / nack / extend / release of that lease must present it:
// a fencing token is readable by anyone with a reader grant (`tasks get`, events), the secret is not.

/** base64url, 16..64 characters (the node draws 24 random bytes: 32 characters). */
export const LEASE_SECRET_RE = /^[A-Za-z0-9_-]{16,64}$/;

export function isLeaseSecret(v: unknown): v is string {
  return typeof v === 'string' && LEASE_SECRET_RE.test(v);
}

/** Random bytes drawn for one secret. */
export const LEASE_SECRET_BYTES = 24;
