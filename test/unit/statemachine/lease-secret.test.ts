// Lease-holder secrets (issue #14): a lease granted with a secret is ended or extended only by a
// command carrying it; the (id, token) pair alone — readable by `tasks get` and events — is refused
// with PERMISSION_DENIED naming the field, and nothing changes. The secret is replicated (snapshot,
// digest), never shown by reads or events, and leases without one behave as before.
import { describe, expect, it } from 'vitest';
import type { LeasedTask, TaskView } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { Driver, bytes, code } from './harness.js';

const SECRET = 'holder-secret-0123456789abcdef';
const OTHER = 'another-secret-0123456789abcdef';
type Leased = { tasks: LeasedTask[] };

function leased(d: Driver, secret: string | null = SECRET, n = 1): LeasedTask[] {
  d.value({ type: 'enqueue', queue: 'q', tasks: Array.from({ length: n }, () => ({ payload: bytes(7) })) });
  const cmd = { type: 'lease' as const, queue: 'q', workerId: 'w1', max: n, leaseMs: 30_000 };
  return d.value<Leased>(secret === null ? cmd : { ...cmd, secret }).tasks;
}

describe('statemachine - lease-holder secrets', () => {
  it('the grant returns its secret; reads and events never show it', () => {
    const d = new Driver();
    const [t] = leased(d) as [LeasedTask];
    expect(t.secret).toBe(SECRET);
    const view = d.read<TaskView>({ type: 'task', id: t.id });
    expect(view.state).toBe('leased');
    expect(JSON.stringify(view)).not.toContain(SECRET);
    expect(JSON.stringify(d.sm.drainEvents())).not.toContain(SECRET);
  });

  it('ack, nack, extend and release without the secret or with another one are refused naming the field', () => {
    const d = new Driver();
    const [t] = leased(d) as [LeasedTask];
    const tries = [
      { type: 'nack' as const, id: t.id, token: t.token },
      { type: 'extend' as const, id: t.id, token: t.token, leaseMs: 60_000, secret: OTHER },
      { type: 'release' as const, id: t.id, token: t.token },
      { type: 'nack' as const, id: t.id, token: t.token, dead: true, secret: OTHER },
    ];
    for (const cmd of tries) {
      const a = d.run(cmd);
      expect(a).toMatchObject({ ok: false, error: { code: 'PERMISSION_DENIED', field: 'secret' } });
    }
    const acks = d.value<{ items: { ok: boolean; error?: { code: string; field?: string } }[] }>({
      type: 'ack',
      items: [
        { id: t.id, token: t.token },
        { id: t.id, token: t.token, secret: OTHER },
      ],
    });
    expect(acks.items.map((i) => [i.ok, i.error?.code, i.error?.field])).toEqual([
      [false, 'PERMISSION_DENIED', 'items[0].secret'],
      [false, 'PERMISSION_DENIED', 'items[1].secret'],
    ]);
    // Nothing applied: the task is still leased by the same attempt.
    const view = d.read<TaskView>({ type: 'task', id: t.id });
    expect(view.state).toBe('leased');
    expect(view.attempts).toBe(0);
    expect(view.lease?.token).toBe(t.token);
    // The holder's secret works.
    expect(code(d.run({ type: 'extend', id: t.id, token: t.token, leaseMs: 60_000, secret: SECRET }))).toBe('OK');
    const ok = d.value<{ items: { ok: boolean }[] }>({
      type: 'ack',
      items: [{ id: t.id, token: t.token, secret: SECRET }],
    });
    expect(ok.items[0]).toMatchObject({ ok: true });
    expect(d.read<TaskView>({ type: 'task', id: t.id }).state).toBe('completed');
  });

  it('a stale token stays LEASE_LOST (the secret is checked last); a repeated ack returns the original answer', () => {
    const d = new Driver();
    const [t] = leased(d) as [LeasedTask];
    expect(code(d.run({ type: 'nack', id: t.id, token: '1', secret: SECRET }))).toBe('LEASE_LOST');
    const first = d.value({ type: 'ack', items: [{ id: t.id, token: t.token, secret: SECRET }] });
    expect(d.value({ type: 'ack', items: [{ id: t.id, token: t.token, secret: SECRET }] })).toEqual(first);
    // Ended: the secret is gone with the attempt, and any other ending is LEASE_LOST as before.
    expect(code(d.run({ type: 'nack', id: t.id, token: t.token, secret: SECRET }))).toBe('LEASE_LOST');
  });

  it('each grant has its own secret; the previous holder cannot touch the next lease', () => {
    const d = new Driver();
    const [t] = leased(d) as [LeasedTask];
    expect(code(d.run({ type: 'release', id: t.id, token: t.token, secret: SECRET }))).toBe('OK');
    const [u] = d.value<Leased>({ type: 'lease', queue: 'q', workerId: 'w2', max: 1, secret: OTHER }).tasks as [
      LeasedTask,
    ];
    expect(u.id).toBe(t.id);
    expect(u.secret).toBe(OTHER);
    expect(d.run({ type: 'nack', id: u.id, token: u.token, secret: SECRET })).toMatchObject({
      ok: false,
      error: { code: 'PERMISSION_DENIED', field: 'secret' },
    });
    expect(code(d.run({ type: 'nack', id: u.id, token: u.token, secret: OTHER }))).toBe('OK');
  });

  it('a lease without a secret (entries from before) is checked by id and token alone', () => {
    const d = new Driver();
    const [t] = leased(d, null) as [LeasedTask];
    expect(t.secret).toBeUndefined();
    expect(code(d.run({ type: 'nack', id: t.id, token: t.token }))).toBe('OK');
  });

  it('the secret is replicated: a restored replica refuses and accepts alike, with an equal digest', () => {
    const d = new Driver();
    const [t] = leased(d) as [LeasedTask];
    const b = new QueueStateMachine();
    b.restore([...d.sm.snapshot()]);
    expect(b.digest()).toBe(d.sm.digest());
    // The same next entry on both.
    const a1 = d.run({ type: 'release', id: t.id, token: t.token, secret: OTHER });
    const replay = new Driver();
    replay.sm.restore([...b.snapshot()]);
    replay.index = d.index - 1;
    replay.mono = d.mono;
    const a2 = replay.run({ type: 'release', id: t.id, token: t.token, secret: OTHER });
    expect(a2).toEqual(a1);
    expect(replay.sm.digest()).toBe(d.sm.digest());
    // Two leases differing only in their secrets hash differently (the secret is in the digest).
    const x = new Driver();
    const y = new Driver();
    leased(x, SECRET);
    leased(y, OTHER);
    expect(x.sm.digest()).not.toBe(y.sm.digest());
  });

  it('a malformed secret is refused by validation naming the field', () => {
    const d = new Driver();
    const [t] = leased(d) as [LeasedTask];
    const a = d.run({ type: 'nack', id: t.id, token: t.token, secret: 'short' });
    expect(a).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT', field: 'secret' } });
  });
});
