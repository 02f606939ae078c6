// The SDK's memory of its leases' holder secrets (src/client/lease-secrets.ts): added to the endings
// of those leases only, never overriding a secret given, forgotten when the lease ends.
import { describe, expect, it } from 'vitest';
import type { LeasedTask } from '../../../src/protocol/index.js';
import { LeaseSecrets } from '../../../src/client/lease-secrets.js';

const leased = (id: string, token: string, secret?: string): LeasedTask =>
  ({
    id,
    queue: 'q',
    token,
    headers: {},
    priority: 0,
    deadlineMono: 0,
    leaseMs: 1,
    attempts: 0,
    deliveries: 1,
    leases: 1,
    ...(secret ? { secret } : {}),
  }) as LeasedTask;

describe('client - lease secrets', () => {
  it('adds the remembered secret to ack items, nack, extend and release of that lease only', () => {
    const s = new LeaseSecrets();
    s.observe(
      { type: 'lease', queue: 'q', workerId: 'w', max: 2 },
      { tasks: [leased('1', '5', 'S'.repeat(32)), leased('2', '5')] },
    );
    expect(s.size).toBe(1);
    expect(
      s.attach({
        type: 'ack',
        items: [
          { id: '1', token: '5' },
          { id: '1', token: '4' },
          { id: '2', token: '5' },
        ],
      }),
    ).toEqual({
      type: 'ack',
      items: [
        { id: '1', token: '5', secret: 'S'.repeat(32) },
        { id: '1', token: '4' },
        { id: '2', token: '5' },
      ],
    });
    for (const type of ['nack', 'extend', 'release'] as const) {
      expect(s.attach({ type, id: '1', token: '5' })).toEqual({ type, id: '1', token: '5', secret: 'S'.repeat(32) });
    }
    // A secret given explicitly is kept.
    expect(s.attach({ type: 'nack', id: '1', token: '5', secret: 'T'.repeat(32) })).toMatchObject({
      secret: 'T'.repeat(32),
    });
    // Other commands pass unchanged (the same object).
    const enq = { type: 'enqueue' as const, queue: 'q', tasks: [] };
    expect(s.attach(enq)).toBe(enq);
  });

  it('forgets a lease once acked, nacked or released; an extend keeps it', () => {
    const s = new LeaseSecrets();
    s.remember([leased('1', '5', 'A'.repeat(32)), leased('2', '5', 'B'.repeat(32)), leased('3', '5', 'C'.repeat(32))]);
    s.observe({ type: 'extend', id: '1', token: '5' }, {});
    expect(s.size).toBe(3);
    s.observe({ type: 'ack', items: [{ id: '1', token: '5' }] }, {});
    s.observe({ type: 'nack', id: '2', token: '5' }, {});
    expect(s.attach({ type: 'release', id: '3', token: '5' })).toMatchObject({ secret: 'C'.repeat(32) });
    s.observe({ type: 'release', id: '3', token: '5' }, {});
    expect(s.size).toBe(0);
    expect(s.attach({ type: 'release', id: '3', token: '5' })).toEqual({ type: 'release', id: '3', token: '5' });
  });
});
