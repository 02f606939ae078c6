// Replicated client tokens in the state machine (issue #14): add, rotate and revoke at an index;
// validation names the field; the table is in the digest and the snapshot; the hash is never answered.
import { describe, expect, it } from 'vitest';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { TOKEN_LIMITS } from '../../../src/protocol/tokens.js';
import { Driver, code } from './harness.js';

const HASH_A = `scrypt$16384$8$1$${'a'.repeat(22)}$${'A'.repeat(43)}`;
const HASH_B = `scrypt$16384$8$1$${'b'.repeat(22)}$${'B'.repeat(43)}`;
const add = (id: string, hash = HASH_A, grants = [{ role: 'worker', queues: 'jobs.*' }]) =>
  ({ type: 'addToken', id, hash, grants }) as never;

describe('statemachine - replicated tokens', () => {
  it('adds, rotates and revokes at the entry index; answers never hold the hash', () => {
    const d = new Driver();
    const a1 = d.value(add('w1'));
    expect(a1).toEqual({ id: 'w1', rotated: false, index: d.index });
    const added = d.index;
    expect(JSON.stringify(a1)).not.toContain('scrypt');
    let t = d.sm.tokenTable();
    expect(t.live).toBe(1);
    expect(t.tokens.get('w1')).toEqual({
      hash: HASH_A,
      grants: [{ role: 'worker', queues: 'jobs.*' }],
      index: added,
      revoked: false,
    });
    expect(d.value(add('w1', HASH_B))).toMatchObject({ rotated: true });
    expect(d.sm.tokenTable().tokens.get('w1')?.hash).toBe(HASH_B);
    const r = d.value({ type: 'revokeToken', id: 'w1' } as never);
    expect(r).toEqual({ id: 'w1', revoked: true, existed: true, index: d.index });
    t = d.sm.tokenTable();
    expect(t.live).toBe(0);
    expect(t.tokens.get('w1')).toMatchObject({ revoked: true, hash: '' });
    // Revoking an id the log never saw (a config-file token) leaves a tombstone too.
    expect(d.value({ type: 'revokeToken', id: 'from-config' } as never)).toMatchObject({ existed: false });
    expect(d.sm.tokenTable().tokens.get('from-config')?.revoked).toBe(true);
    // Adding a revoked id again revives it with the new hash.
    expect(d.value(add('w1', HASH_A))).toMatchObject({ rotated: false });
    expect(d.sm.tokenTable().live).toBe(1);
  });

  it('malformed commands are refused naming the field, and change nothing', () => {
    const d = new Driver();
    const cases: [unknown, string][] = [
      [{ type: 'addToken', id: 'bad id', hash: HASH_A, grants: [{ role: 'admin', queues: '*' }] }, 'id'],
      [{ type: 'addToken', id: 'x', hash: 'plaintext-token', grants: [{ role: 'admin', queues: '*' }] }, 'hash'],
      [{ type: 'addToken', id: 'x', hash: HASH_A, grants: [] }, 'grants'],
      [{ type: 'addToken', id: 'x', hash: HASH_A, grants: [{ role: 'root', queues: '*' }] }, 'grants[0].role'],
      [{ type: 'addToken', id: 'x', hash: HASH_A, grants: [{ role: 'admin', queues: '' }] }, 'grants[0].queues'],
      [{ type: 'revokeToken', id: '' }, 'id'],
    ];
    for (const [cmd, field] of cases) {
      expect(d.run(cmd as never)).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT', field } });
    }
    expect(d.sm.tokenTable().tokens.size).toBe(0);
  });

  it('refuses a token beyond tokensMax with RESOURCE_EXHAUSTED naming the limit', () => {
    const d = new Driver();
    for (let i = 0; i < TOKEN_LIMITS.tokensMax; i++) expect(code(d.run(add(`t${i}`)))).toBe('OK');
    expect(d.run(add('one-more'))).toMatchObject({
      ok: false,
      error: { code: 'RESOURCE_EXHAUSTED', limit: 'tokensMax' },
    });
    expect(code(d.run(add('t0', HASH_B)))).toBe('OK'); // rotating an existing one is fine
  });

  it('the table is replicated: in the digest, and restored from a snapshot with an equal digest', () => {
    const d = new Driver();
    d.value(add('w1'));
    d.value(add('r1', HASH_B, [{ role: 'reader', queues: '*' }]));
    d.value({ type: 'revokeToken', id: 'w1' } as never);
    const b = new QueueStateMachine();
    b.restore([...d.sm.snapshot()]);
    expect(b.digest()).toBe(d.sm.digest());
    expect([...b.tokenTable().tokens]).toEqual([...d.sm.tokenTable().tokens].sort(([x], [y]) => (x < y ? -1 : 1)));
    expect(b.tokenTable().live).toBe(1);
    // Same commands, different hash: different digest.
    const x = new Driver();
    const y = new Driver();
    x.value(add('w1', HASH_A));
    y.value(add('w1', HASH_B));
    expect(x.sm.digest()).not.toBe(y.sm.digest());
  });
});
