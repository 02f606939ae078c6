// ticksToNextEvent(): the driver sleeps that many ticks while idle, so no tick before it may do anything.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TestCluster } from './harness.js';

const IDS = ['a', 'b', 'c'];

type Op =
  | { kind: 'tick'; node: number; times: number }
  | { kind: 'isolate'; node: number }
  | { kind: 'heal' }
  | { kind: 'propose' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('tick' as const),
      node: fc.nat(2),
      times: fc.integer({ min: 1, max: 25 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('isolate' as const), node: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('heal' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('propose' as const) }) },
);

function run(ops: Op[]): TestCluster {
  const c = new TestCluster(IDS);
  let proposal = 1;
  for (const op of ops) {
    if (op.kind === 'tick') c.tick(IDS[op.node] as string, op.times);
    else if (op.kind === 'isolate') c.isolate(IDS[op.node] as string);
    else if (op.kind === 'heal') c.heal();
    else for (const id of c.leaders()) c.propose(id, `p${proposal}`, proposal++);
    c.stabilize();
  }
  return c;
}

describe('raft - ticksToNextEvent', () => {
  it('no tick before the horizon does anything but count, whatever the history', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), fc.nat(2), (ops, pick) => {
        const c = run(ops);
        const id = IDS[pick] as string;
        const n = c.node(id);
        expect(n.hasReady()).toBe(false);
        const h = n.ticksToNextEvent();
        expect(h).toBeGreaterThanOrEqual(1);
        const before = { role: n.currentRole, term: n.currentTerm, leader: n.leader };
        for (let k = 1; k < h; k++) {
          n.tick();
          expect(n.hasReady()).toBe(false);
          expect({ role: n.currentRole, term: n.currentTerm, leader: n.leader }).toEqual(before);
          expect(n.ticksToNextEvent()).toBe(h - k);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a leader wakes for its heartbeat, and a follower for its election', () => {
    const c = new TestCluster(IDS, { electionTicks: 10, heartbeatTicks: 3 });
    c.elect('a');
    const a = c.node('a');
    const h = a.ticksToNextEvent();
    expect(h).toBe(3);
    c.tick('a', h);
    expect(
      a
        .ready()
        .messages.map((m) => m.to)
        .sort(),
    ).toEqual(['b', 'c']);
    a.advance();

    const b = c.node('b');
    c.isolate('b');
    const e = b.ticksToNextEvent();
    expect(e).toBeGreaterThanOrEqual(1);
    expect(e).toBeLessThan(20);
    c.tick('b', e - 1);
    expect(b.currentRole).toBe('follower');
    c.tick('b', 1);
    expect(b.currentRole).toBe('precandidate');
  });
});
