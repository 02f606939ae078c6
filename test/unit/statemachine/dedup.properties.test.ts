// Property test of the deduplication modes against a model (issue 13, docs/sdk.md "Deduplication
// modes"): random enqueues on a few dedup keys (each key has one mode and window), leases, acks and
// time steps; every enqueue's answer must be the model's:
//   active   — the kept task while it is not terminal (and the key's window from its creation lasts);
//   throttle — the kept task within the window from its creation (`throttled`);
//   debounce — a waiting kept task takes the new payload within the window from the last enqueue
//              (`replaced`); a running or ended one, or an expired window, makes a new task.
// Every lease grants a task the model holds waiting, debounced tasks carry the last payload, and a
// replica restored from a snapshot at a random position gives the same answers and digests.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Command, LeasedTask } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { ReplicaPair } from './harness.js';

type Mode = 'active' | 'throttle' | 'debounce';
const KEYS: { key: string; mode: Mode; windowMs: number }[] = [
  { key: 'a0', mode: 'active', windowMs: 4000 },
  { key: 'a1', mode: 'active', windowMs: 60_000 },
  { key: 't0', mode: 'throttle', windowMs: 1500 },
  { key: 't1', mode: 'throttle', windowMs: 5000 },
  { key: 'd0', mode: 'debounce', windowMs: 1000 },
  { key: 'd1', mode: 'debounce', windowMs: 6000 },
];

type State = 'waiting' | 'leased' | 'done';
interface Model {
  tasks: Map<string, { state: State; payload: number }>;
  keys: Map<string, { id: string; expiresAt: number }>;
  next: number;
}

/** The model's answer to an enqueue of `payload` on key `k` at `now` (and its effect on the model). */
function expectEnqueue(m: Model, k: (typeof KEYS)[number], payload: number, now: number): Record<string, unknown> {
  const e = m.keys.get(k.key);
  const kept = e !== undefined && e.expiresAt > now ? m.tasks.get(e.id) : undefined;
  if (e !== undefined && kept !== undefined) {
    if (k.mode === 'throttle') return { id: e.id, deduplicated: true, throttled: true };
    if (k.mode === 'active' && kept.state !== 'done') return { id: e.id, deduplicated: true };
    if (k.mode === 'debounce' && kept.state === 'waiting') {
      kept.payload = payload;
      m.keys.set(k.key, { id: e.id, expiresAt: now + k.windowMs });
      return { id: e.id, deduplicated: true, replaced: true };
    }
  }
  const id = String(m.next++);
  m.tasks.set(id, { state: 'waiting', payload });
  m.keys.set(k.key, { id, expiresAt: now + k.windowMs });
  return { id, deduplicated: false };
}

type Op =
  | { kind: 'enqueue'; key: number; payload: number; dt: number }
  | { kind: 'lease'; dt: number }
  | { kind: 'ack'; pick: number; dt: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('enqueue' as const),
      key: fc.nat(KEYS.length - 1),
      payload: fc.nat(255),
      dt: fc.nat(1500),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('lease' as const), dt: fc.nat(500) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('ack' as const), pick: fc.nat(20), dt: fc.nat(500) }) },
);

function runOps(ops: Op[], cut: number): void {
  const p = new ReplicaPair(new QueueStateMachine());
  // Leases long enough never to expire within a run (expiry is not what this test is about).
  p.run({ type: 'createQueue', queue: 'q', settings: { leaseMs: 3_600_000 } } as Command, 0);
  const m: Model = { tasks: new Map(), keys: new Map(), next: 1 };
  const held: LeasedTask[] = [];
  ops.forEach((op, i) => {
    if (i === cut % ops.length) p.restoreHere();
    if (op.kind === 'enqueue') {
      const k = KEYS[op.key] as (typeof KEYS)[number];
      const cmd = {
        type: 'enqueue',
        queue: 'q',
        tasks: [{ payload: new Uint8Array([op.payload]), dedup: { key: k.key, mode: k.mode, windowMs: k.windowMs } }],
      } as Command;
      const a = p.run(cmd, op.dt);
      expect(a.ok).toBe(true);
      const item = (a as { value: { items: Record<string, unknown>[] } }).value.items[0];
      expect(item, `enqueue #${i} on ${k.key} (${k.mode}) at ${p.mono}`).toEqual(
        expectEnqueue(m, k, op.payload, p.mono),
      );
    } else if (op.kind === 'lease') {
      const a = p.run({ type: 'lease', queue: 'q', workerId: 'w', max: 1 } as Command, op.dt);
      const tasks = (a as { value: { tasks: LeasedTask[] } }).value.tasks;
      const waiting = [...m.tasks.entries()].filter(([, t]) => t.state === 'waiting');
      expect(tasks.length).toBe(waiting.length > 0 ? 1 : 0);
      for (const t of tasks) {
        const mt = m.tasks.get(t.id);
        expect(mt?.state, `lease #${i} granted ${t.id}`).toBe('waiting');
        // A debounced task is leased with the last payload it took.
        expect(t.payload).toEqual(new Uint8Array([mt?.payload ?? -1]));
        (mt as { state: State }).state = 'leased';
        held.push(t);
      }
    } else if (held.length > 0) {
      const [t] = held.splice(op.pick % held.length, 1) as [LeasedTask];
      const item = { id: t.id, token: t.token, ...(t.secret ? { secret: t.secret } : {}) };
      const a = p.run({ type: 'ack', items: [item] } as Command, op.dt);
      expect(a.ok, JSON.stringify(a)).toBe(true);
      (m.tasks.get(t.id) as { state: State }).state = 'done';
    }
  });
}

describe('statemachine - dedup modes against a model', () => {
  it('answers every enqueue as the model does, across snapshot and restore', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 80 }), fc.nat(), (ops, cut) => runOps(ops, cut)),
      { numRuns: 150 },
    );
  });
});
