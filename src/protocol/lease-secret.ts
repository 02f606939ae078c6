// Lease-holder secrets (issue #14, docs/security.md): every grant carries a secret drawn by the node
// that took the lease request (never by the client), stored in the entry and in each granted task, and
// returned only in the grantee's answer. Ack / nack / extend / release of that lease must present it:
// a fencing token is readable by anyone with a reader grant (`tasks get`, events), the secret is not.

/** base64url, 16..64 characters (the node draws 24 random bytes: 32 characters). */
export const LEASE_SECRET_RE = /^[A-Za-z0-9_-]{16,64}$/;

/** LEASE_SECRET_RE.test as a char loop: every ack item carries one, and the loop is cheaper. */
export function isLeaseSecret(v: unknown): v is string {
  if (typeof v !== 'string' || v.length < 16 || v.length > 64) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!alnum && c !== 0x5f && c !== 0x2d) return false;
  }
  return true;
}

/** Random bytes drawn for one secret. */
export const LEASE_SECRET_BYTES = 24;
