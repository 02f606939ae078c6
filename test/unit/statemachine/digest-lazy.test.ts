// The digest's lazy upkeep (digest.ts, issue 11): cached session answers are hashed when the digest
// is taken, not when cached. The digest must not depend on when (or how often) it is
// taken, must equal a from-scratch count (a restored snapshot), and the records waiting to be
// hashed must stay bounded when no digest is taken at all.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Command } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import type { MachineState } from '../../../src/statemachine/state.js';
import { Driver } from './harness.js';
import { buildLog, logArb, replay } from './logs.js';

function restored(sm: QueueStateMachine): QueueStateMachine {
  const b = new QueueStateMachine();
  b.restore([...sm.snapshot()]);
  return b;
}

function stateOf(sm: QueueStateMachine): MachineState {
  return (sm as unknown as { state: MachineState }).state;
}

describe('statemachine - lazy digest upkeep', () => {
  it('the digest is the same whenever it is taken, and equals a restored copy', () => {
    fc.assert(
      fc.property(logArb(20, 120), fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }), (raws, takes) => {
        const t = buildLog(raws);
        const every = new QueueStateMachine();
        const sometimes = new QueueStateMachine();
        t.log.forEach((e, i) => {
          replay(every, [e]);
          every.digest();
          replay(sometimes, [e]);
          if (takes[i % takes.length] === true) sometimes.digest();
        });
        const d = sometimes.digest();
        expect(d).toBe(every.digest());
        expect(d).toBe(t.sm.digest());
        expect(restored(sometimes).digest()).toBe(d);
        // Restored into a machine in use (a follower installing the leader's snapshot), whose own
        // answers are still waiting to be hashed: none of them may enter the restored digest.
        const used = new QueueStateMachine();
        replay(used, t.log.slice(0, Math.max(1, t.log.length >> 1)));
        used.restore([...sometimes.snapshot()]);
        expect(used.digest()).toBe(d);
      }),
      { numRuns: 100 },
    );
  });

  it('a snapshot installed over a machine with answers waiting to be hashed restores cleanly (jepsen-like all, seed 1501)', () => {
    const leader = new Driver();
    leader.run({ type: 'createQueue', queue: 'q' });
    const follower = new Driver();
    follower.run({ type: 'createQueue', queue: 'q' });
    const s = follower.value<{ session: string }>({ type: 'openSession' }).session;
    const cmd: Command = { type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([1]) }] };
    follower.entry([{ session: s, seq: 1, cmd }]);
    expect(stateOf(follower.sm).pendingAnswers.size).toBe(1);
    expect(() => follower.sm.restore([...leader.sm.snapshot()])).not.toThrow();
    expect(stateOf(follower.sm).pendingAnswers.size).toBe(0);
    expect(follower.sm.digest()).toBe(leader.sm.digest());
  });

  it('tasks and answers changed and dropped between two digests leave no trace in the next one', () => {
    const a = new Driver();
    const b = new Driver();
    for (const d of [a, b]) d.run({ type: 'createQueue', queue: 'q' });
    const s = a.value<{ session: string }>({ type: 'openSession' }).session;
    b.value({ type: 'openSession' });
    const before = a.sm.digest();
    expect(b.sm.digest()).toBe(before);
    // a: a task enqueued, leased and acked in its session, then the answers dropped (floor moves);
    // b: the same, digest after every entry. Both must end equal, and differ from the start.
    for (const d of [a, b]) {
      d.entry([
        { session: s, seq: 1, cmd: { type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([1]) }] } },
      ]);
      if (d === b) d.sm.digest();
      const lease = d.entry([
        { session: s, seq: 2, floor: 2, cmd: { type: 'lease', queue: 'q', workerId: 'w', max: 1 } },
      ]);
      if (d === b) d.sm.digest();
      const leased = (lease[0]?.answer as { ok: true; value: { tasks: { id: string; token: string }[] } }).value.tasks;
      expect(leased).toHaveLength(1);
      d.entry([
        {
          session: s,
          seq: 3,
          floor: 3,
          cmd: { type: 'ack', items: leased.map((x) => ({ id: x.id, token: x.token })) },
        },
      ]);
    }
    expect(a.sm.digest()).toBe(b.sm.digest());
    expect(a.sm.digest()).not.toBe(before);
    expect(restored(a.sm).digest()).toBe(a.sm.digest());
  });

  it('without any digest, the answers waiting to be hashed stay bounded', () => {
    const d = new Driver();
    d.run({ type: 'createQueue', queue: 'q' });
    const st = stateOf(d.sm);
    let most = 0;
    const enqueue: Command = { type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([7]) }] };
    for (let i = 0; i < 90; i++) {
      // A session per entry, 1,000 answers kept in it (its floor never moves): 90,000 without a digest.
      const s = d.value<{ session: string }>({ type: 'openSession' }).session;
      d.entry(Array.from({ length: 1000 }, (_, k) => ({ session: s, seq: k + 1, cmd: enqueue })));
      most = Math.max(most, st.pendingAnswers.size);
    }
    expect(most).toBeGreaterThan(60_000);
    expect(most).toBeLessThanOrEqual(65_536);
    expect(st.pendingAnswers.size).toBeLessThan(90_000 - 60_000);
    expect(restored(d.sm).digest()).toBe(d.sm.digest());
  });
});
