// Payload slabs (src/statemachine/payloads.ts, issue 11 target D): every task reads back exactly the
// bytes it was given, through any mix of puts, releases, replacements and compactions; a view taken
// earlier stays valid; and a state machine with tiny slabs (compacting all the time) answers, digests
// and snapshots exactly as one with the default slabs.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { LeasedTask } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { NO_SLAB, PayloadStore, payloadBytes, type Placed } from '../../../src/statemachine/payloads.js';
import type { MachineState } from '../../../src/statemachine/state.js';
import { Driver } from './harness.js';

function placed(): Placed {
  return { slab: NO_SLAB, off: 0, len: 0 };
}

function bytesOf(seed: number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i * 7) & 0xff);
}

type Op = { kind: 'put' | 'release' | 'replace' | 'view'; at: number; n: number };

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom<Op['kind']>('put', 'put', 'put', 'put', 'release', 'release', 'replace', 'view'),
  at: fc.nat(),
  // Mostly small payloads, some over a quarter of a slab (a slab of their own), some empty.
  n: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 12 }) },
    { weight: 1, arbitrary: fc.integer({ min: 17, max: 100 }) },
  ),
});

describe('statemachine - payload slabs', () => {
  it('every payload and every earlier view reads back its bytes through puts, releases and compactions', () => {
    let compactions = 0;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 150, maxLength: 400 }), (ops) => {
        const store = new PayloadStore(64);
        const live: { t: Placed; want: Uint8Array }[] = [];
        const views: { view: Uint8Array; want: Uint8Array }[] = [];
        let seed = 0;
        for (const op of ops) {
          const i = live.length === 0 ? -1 : op.at % live.length;
          const want = bytesOf(++seed, op.n);
          if (op.kind === 'put' || i < 0) {
            const t = placed();
            store.put(t, want);
            live.push({ t, want });
          } else if (op.kind === 'release') {
            const [gone] = live.splice(i, 1);
            if (gone === undefined) throw new Error('no task');
            store.release(gone.t);
            if (store.wantsCompaction()) store.compact(live.map((l) => l.t));
          } else if (op.kind === 'replace') {
            const l = live[i];
            if (l === undefined) throw new Error('no task');
            store.replace(l.t, want);
            l.want = want;
          } else {
            const l = live[i];
            if (l !== undefined) views.push({ view: payloadBytes(l.t), want: l.want });
          }
          check(store, live, views);
        }
        // Then most tasks leave, as a drained backlog's do: old slabs go sparse and are compacted.
        for (let i = live.length - 1; i >= 0; i--) {
          if (i % 5 === 0) continue;
          const [gone] = live.splice(i, 1);
          if (gone !== undefined) store.release(gone.t);
          if (store.wantsCompaction()) store.compact(live.map((l) => l.t));
          check(store, live, views);
        }
        compactions += store.compactions;
      }),
      { numRuns: 80 },
    );
    expect(compactions).toBeGreaterThan(0); // the generated runs do compact
  });

  it('the planted bug (compaction copies from one byte too far) changes a payload', () => {
    const store = new PayloadStore(64, 8, true);
    const tasks = Array.from({ length: 400 }, (_, i) => {
      const t = placed();
      store.put(t, bytesOf(i, 10));
      return t;
    });
    // Free nine in ten of them: the full slabs go sparse, and their survivors are moved.
    const kept = tasks.filter((_, i) => i % 10 === 0);
    const live = new Set(tasks);
    for (const [i, t] of tasks.entries()) {
      if (i % 10 === 0) continue;
      store.release(t);
      live.delete(t);
      if (store.wantsCompaction()) store.compact(live);
    }
    expect(store.compactions).toBeGreaterThan(0);
    expect(kept.some((t, k) => !sameBytes(payloadBytes(t), bytesOf(k * 10, 10)))).toBe(true);
  });
});

function check(
  store: PayloadStore,
  live: { t: Placed; want: Uint8Array }[],
  views: { view: Uint8Array; want: Uint8Array }[],
): void {
  // expect() only on a mismatch: it is slow, and this runs after every operation.
  for (const l of live) if (!sameBytes(payloadBytes(l.t), l.want)) expect(payloadBytes(l.t)).toEqual(l.want);
  for (const v of views) if (!sameBytes(v.view, v.want)) expect(v.view).toEqual(v.want);
  const sum = live.reduce((s, l) => s + l.want.byteLength, 0);
  if (store.liveBytes !== sum) expect(store.liveBytes).toBe(sum);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}

/** Enqueues `n` tasks of distinct payloads, completes all but every `keepEvery`th, and lets retention remove them. */
function churn(d: Driver, n: number, keepEvery: number): void {
  d.value({ type: 'createQueue', queue: 'q', settings: { retentionMs: 1000 } });
  for (let i = 0; i < n; i += 10) {
    const tasks = Array.from({ length: 10 }, (_, k) => ({ payload: bytesOf(i + k, 20 + ((i + k) % 13)) }));
    d.value({ type: 'enqueue', queue: 'q', tasks });
  }
  const leased = d.value<{ tasks: LeasedTask[] }>({ type: 'lease', queue: 'q', workerId: 'w', max: n }).tasks;
  const done = leased.filter((t) => Number(t.id) % keepEvery !== 0);
  d.value({ type: 'ack', items: done.map((t) => ({ id: t.id, token: t.token })) });
  d.value({ type: 'enqueue', queue: 'q', tasks: [{ payload: bytesOf(-1, 5) }] }, 5000); // retention removes them
}

function stateOf(sm: QueueStateMachine): MachineState {
  return (sm as unknown as { state: MachineState }).state;
}

describe('statemachine - payload slabs in the machine', () => {
  it('tiny slabs (compacting) answer, digest and snapshot as the default ones', () => {
    const small = new Driver({ payloadSlabBytes: 128 });
    const big = new Driver();
    churn(small, 400, 7);
    churn(big, 400, 7);
    expect(stateOf(small.sm).payloads.compactions).toBeGreaterThan(0);
    expect(stateOf(big.sm).payloads.compactions).toBe(0);
    expect(small.sm.digest()).toBe(big.sm.digest());
    expect([...small.sm.snapshot()]).toEqual([...big.sm.snapshot()]);
    // The kept tasks hand out their own bytes, after compaction and after a restore into tiny slabs.
    const copy = new QueueStateMachine({ payloadSlabBytes: 64 });
    copy.restore([...small.sm.snapshot()]);
    expect(copy.digest()).toBe(big.sm.digest());
    const a = small.value<{ tasks: LeasedTask[] }>({ type: 'lease', queue: 'q', workerId: 'w', max: 1 });
    const b = big.value<{ tasks: LeasedTask[] }>({ type: 'lease', queue: 'q', workerId: 'w', max: 1 });
    expect(a).toEqual(b);
    for (let id = 1; id <= 401; id++) {
      const r = small.sm.read({ type: 'task', id: String(id) }).answer;
      expect(r).toEqual(big.sm.read({ type: 'task', id: String(id) }).answer);
    }
  });

  it('a restore into a machine with tasks starts an empty store, and its tasks still read back', () => {
    const d = new Driver({ payloadSlabBytes: 128 });
    churn(d, 200, 3);
    const other = new Driver({ payloadSlabBytes: 128 });
    churn(other, 100, 2);
    other.sm.restore([...d.sm.snapshot()]);
    expect(other.sm.digest()).toBe(d.sm.digest());
    expect(stateOf(other.sm).payloads.liveBytes).toBe(stateOf(d.sm).payloads.liveBytes);
  });
});
