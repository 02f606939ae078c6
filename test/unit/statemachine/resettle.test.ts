// Re-placing a queue's limit keys after a settings change (configure, pause / resume, a shared
// limit's new spec) is admin work in capped steps (architecture issue §5): at most
// adminTasksPerEntryMax keys per entry, the rest by a resettle job at the following entries, from a
// cursor in state (digest and snapshot). The outcome equals the uncapped one; a replica restored
// mid-walk continues exactly as the original.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Command } from '../../../src/protocol/index.js';
import { decodeMultiple } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { W_SCHED } from '../../../src/statemachine/records.js';
import { Driver } from './harness.js';

const advance = { type: 'advanceTime' } as never;

/** A queue `q` with `n` limit keys at their concurrency (1): each has one task leased, one waiting. */
function keyed(cap: number, n: number): Driver {
  const d = new Driver({ limits: { adminTasksPerEntryMax: cap } });
  d.value({ type: 'createQueue', queue: 'q', settings: { keyLimits: { concurrency: 1 } } } as never);
  for (let r = 0; r < 2; r++) {
    const tasks = Array.from({ length: n }, (_, i) => ({ payload: new Uint8Array([1]), key: `k${i}` }));
    d.value({ type: 'enqueue', queue: 'q', tasks } as never);
  }
  d.value({ type: 'lease', queue: 'q', workerId: 'w', max: n } as never);
  return d;
}

function scheduled(d: Driver): number {
  return [...(d.sm.state.queues.get('q')?.lkeys.values() ?? [])].filter((k) => k.where === W_SCHED).length;
}

/** A driver over a replica restored from `d`'s snapshot, at the same index and clocks. */
function restored(d: Driver, cap: number): Driver {
  const c = new QueueStateMachine({ limits: { adminTasksPerEntryMax: cap } });
  c.restore([...d.sm.snapshot()]);
  const r = new Driver();
  Object.assign(r, { sm: c, index: d.index, mono: d.mono, term: d.term });
  return r;
}

const raise: Command = { type: 'configureQueue', queue: 'q', settings: { keyLimits: { concurrency: 2 } } } as never;

describe('statemachine - limit keys re-placed in capped steps', () => {
  it('a configure of a queue with more keys than the cap re-places them over several entries, to the uncapped result', () => {
    const capped = keyed(4, 10); // keys '' and k0..k9: 11
    const uncapped = keyed(10_000, 10);
    expect(scheduled(capped)).toBe(0); // every key at its concurrency
    capped.value(raise);
    uncapped.value(raise);
    expect(scheduled(uncapped)).toBe(10);
    expect(scheduled(capped)).toBe(3); // '', k0..k2 visited ('' has no ready task)
    const job = capped.sm.state.jobs[0];
    expect([job?.kind, job?.key?.name]).toEqual(['resettle', 'k3']);
    expect(capped.sm.nextDue().mono).toBe(capped.mono); // the leader proposes advanceTime
    expect(capped.sm.digest()).not.toBe(uncapped.sm.digest());
    const head = [...decodeMultiple([...capped.sm.snapshot()][0] as Uint8Array)][0] as unknown[];
    expect(head[1]).toBe('raftq-sm/7');
    for (const expected of [7, 10]) {
      capped.value(advance);
      uncapped.value(advance);
      expect(scheduled(capped)).toBe(expected);
    }
    expect(capped.sm.state.jobs).toHaveLength(0);
    expect(capped.sm.digest()).toBe(uncapped.sm.digest());
    expect([...decodeMultiple([...capped.sm.snapshot()][0] as Uint8Array)][0]).toEqual([
      'head',
      'raftq-sm/5',
      expect.anything(),
    ]);
  });

  it('a change while the walk runs restarts it; a small queue is done in its own entry (no job)', () => {
    const d = keyed(4, 10);
    d.value(raise);
    d.value({ type: 'pauseQueue', queue: 'q' } as never);
    expect(d.sm.state.jobs.find((j) => j.kind === 'resettle')?.key?.name).toBe('k3');
    const small = keyed(4, 2);
    small.value(raise);
    expect(small.sm.state.jobs).toHaveLength(0);
    expect(scheduled(small)).toBe(2);
  });

  it('random acks, leases, configures and a snapshot mid-walk: the restored replica gives the same answers and digests', () => {
    const op = fc.oneof(
      fc.constant({ k: 'advance' as const }),
      fc.record({ k: fc.constant('ack' as const), i: fc.nat() }),
      fc.record({ k: fc.constant('configure' as const), c: fc.integer({ min: 1, max: 3 }) }),
      fc.constant({ k: 'lease' as const }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 4, max: 16 }),
        fc.array(op, { minLength: 1, maxLength: 25 }),
        fc.nat(),
        (cap, n, ops, cut) => {
          const a = keyed(cap, n);
          a.value(raise);
          const at = cut % ops.length;
          let b: Driver | null = null;
          const held: { id: string; token: string }[] = [];
          ops.forEach((o, i) => {
            if (i === at) b = restored(a, cap);
            const cmd: Command =
              o.k === 'advance'
                ? advance
                : o.k === 'configure'
                  ? ({ type: 'configureQueue', queue: 'q', settings: { keyLimits: { concurrency: o.c } } } as never)
                  : o.k === 'lease'
                    ? ({ type: 'lease', queue: 'q', workerId: 'w', max: 3 } as never)
                    : ({ type: 'ack', items: held.splice(o.i % Math.max(1, held.length), 1) } as never);
            if (o.k === 'ack' && (cmd as { items: unknown[] }).items.length === 0) return;
            const before = a.index;
            const answers = a.entry([cmd]);
            const value = answers[0]?.answer.ok ? (answers[0].answer.value as { tasks?: typeof held }) : {};
            held.push(...(value.tasks ?? []).map((t) => ({ id: t.id, token: t.token })));
            if (b !== null) {
              const r: Driver = b;
              // The same entry on the restored replica: same answers, digest and next due instant.
              expect(r.entry([cmd])).toEqual(answers);
              expect(r.sm.digest()).toBe(a.sm.digest());
              expect(r.sm.nextDue()).toEqual(a.sm.nextDue());
            }
            expect(a.index).toBe(before + 1);
          });
          expect(a.sm.counters.internalErrors).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
