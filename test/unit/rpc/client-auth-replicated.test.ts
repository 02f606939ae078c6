// ClientAuth over the replicated token table (issue #14): tokens added through the log authenticate,
// take precedence over a config token of the same id, and a rotation or revocation takes effect on
// the next call even for a token already proven (the proven-token cache follows the hash).
import { describe, expect, it } from 'vitest';
import { ClientAuth, hashToken, newToken } from '../../../src/rpc/auth.js';
import type { TokenRecord } from '../../../src/protocol/tokens.js';

const bearer = (t: string): string => `Bearer ${t}`;

function table(): { tokens: Map<string, TokenRecord>; view: () => { tokens: Map<string, TokenRecord>; live: number } } {
  const tokens = new Map<string, TokenRecord>();
  return { tokens, view: () => ({ tokens, live: [...tokens.values()].filter((r) => !r.revoked).length }) };
}

const who = (r: unknown): string => ('code' in (r as object) ? (r as { code: string }).code : (r as { id: string }).id);

describe('ClientAuth - replicated tokens', () => {
  it('turns on with the first live token, follows rotation and revocation at once', async () => {
    const t = table();
    const auth = new ClientAuth([], t.view);
    expect(auth.enabled).toBe(false);
    const w1 = newToken('w1');
    t.tokens.set('w1', {
      hash: await hashToken(w1),
      grants: [{ role: 'worker', queues: '*' }],
      index: 5,
      revoked: false,
    });
    expect(auth.enabled).toBe(true);
    expect(who(await auth.admit('Ack', bearer(w1), {}))).toBe('w1');
    expect(who(await auth.admit('Enqueue', bearer(w1), { queue: 'q' }))).toBe('PERMISSION_DENIED');
    // Rotation: the old (already proven) token is refused, the new one accepted.
    const w1b = newToken('w1');
    t.tokens.set('w1', {
      hash: await hashToken(w1b),
      grants: [{ role: 'worker', queues: '*' }],
      index: 9,
      revoked: false,
    });
    expect(auth.needsSlowCheck(bearer(w1))).toBe(true);
    expect(who(await auth.admit('Ack', bearer(w1), {}))).toBe('UNAUTHENTICATED');
    expect(who(await auth.admit('Ack', bearer(w1b), {}))).toBe('w1');
    // Revocation: refused at once, without a slow hash.
    t.tokens.set('w1', { hash: '', grants: [], index: 12, revoked: true });
    expect(auth.needsSlowCheck(bearer(w1b))).toBe(false);
    expect(await auth.admit('Ack', bearer(w1b), {})).toEqual({
      code: 'UNAUTHENTICATED',
      message: 'unknown or revoked token',
    });
    // Revoking the last token keeps auth on (it never opens the port).
    expect(auth.enabled).toBe(true);
    expect(who(await auth.admit('Status', undefined, {}))).toBe('UNAUTHENTICATED');
    expect(auth.failureCounts()['w1']?.unauthenticated).toBe(1);
  });

  it('the log overrides and revokes a config token of the same id; other config tokens keep working', async () => {
    const t = table();
    const cfg = newToken('cfg');
    const other = newToken('other');
    const auth = new ClientAuth(
      [
        { id: 'cfg', hash: await hashToken(cfg), grants: [{ role: 'admin', queues: '*' }] },
        { id: 'other', hash: await hashToken(other), grants: [{ role: 'reader', queues: '*' }] },
      ],
      t.view,
    );
    expect(who(await auth.admit('PurgeQueue', bearer(cfg), { queue: 'q' }))).toBe('cfg');
    t.tokens.set('cfg', { hash: '', grants: [], index: 3, revoked: true });
    expect(who(await auth.admit('PurgeQueue', bearer(cfg), { queue: 'q' }))).toBe('UNAUTHENTICATED');
    expect(who(await auth.admit('ListQueues', bearer(other), {}))).toBe('other');
    expect(auth.enabled).toBe(true);
  });
});
