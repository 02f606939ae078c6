import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MessageType } from '../../../src/raft/types.js';
import type { Message } from '../../../src/raft/types.js';
import { TestCluster } from './harness.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';

// A malformed or out-of-term message never throws out of step(): it is ignored or answered, and counted.
const valid: Message = {
  type: MessageType.Append,
  group: 1,
  term: 1,
  from: 'a',
  fromStorage: 'a-s1',
  to: 'b',
  index: 1,
  logTerm: 1,
  commit: 1,
  entries: [{ index: asLogIndex(2), term: asTerm(1), type: 0, data: new Uint8Array([1]) }],
};

const anyValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.integer({ min: -5, max: 1e6 }),
  fc.double(),
  fc.string({ maxLength: 4 }),
  fc.boolean(),
  fc.constant(Number.MAX_SAFE_INTEGER + 2),
  fc.array(fc.anything(), { maxLength: 3 }),
  fc.uint8Array({ maxLength: 4 }),
);

describe('raft - bad input', () => {
  it('step() survives arbitrary values and counts them as malformed', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    const b = c.node('b');
    fc.assert(
      fc.property(fc.anything(), (junk) => {
        const before = b.stats.malformed;
        b.step(junk as Message);
        expect(b.stats.malformed).toBe(before + 1);
      }),
      { numRuns: 300 },
    );
  });

  it('step() survives every field of a real message being replaced by junk', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    const b = c.node('b');
    const keys = [...Object.keys(valid), 'snapshot', 'reject', 'rejectHint', 'context', 'snapshotIndex'];
    const types = Object.values(MessageType);
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.constantFrom(...keys), anyValue, (type, key, value) => {
        const m = { ...valid, type, [key]: value } as Message;
        expect(() => b.step(m)).not.toThrow();
        c.processAllReady();
        c.inbox = [];
      }),
      { numRuns: 1000 },
    );
    expect(b.stats.malformed).toBeGreaterThan(0);
  });

  it('a leader survives well-typed but nonsensical responses (huge indexes, hints, offsets)', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    const a = c.node('a');
    const respTypes = [
      MessageType.AppendResp,
      MessageType.HeartbeatResp,
      MessageType.SnapshotResp,
      MessageType.VoteResp,
    ];
    const n = fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER));
    fc.assert(
      fc.property(fc.constantFrom(...respTypes), n, n, n, fc.boolean(), (type, index, hint, rterm, reject) => {
        const m: Message = {
          type,
          group: 1,
          term: a.currentTerm,
          from: 'b',
          fromStorage: 'b-s1',
          to: 'a',
          index,
          reject,
          rejectHint: hint,
          rejectTerm: rterm,
          context: hint,
          snapshotIndex: index,
        };
        expect(() => a.step(m)).not.toThrow();
        c.processAllReady();
        c.inbox = [];
        expect(a.commitIndex).toBeLessThanOrEqual(a.lastIndex);
      }),
      { numRuns: 1000 },
    );
    expect(a.currentRole).toBe('leader');
  });

  it('an out-of-term Append is answered with the current term, so the stale leader steps down', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    for (let k = 0; k < 30; k++) c.tick('b'); // b leaves the lease, then campaigns on its own
    c.stabilize();
    const b = c.node('b');
    const term = b.currentTerm;
    b.step({ ...valid, term: term - 1, from: 'c', fromStorage: 'c-s1', index: 0, logTerm: 0, entries: [] });
    const rd = c.processReady('b');
    expect(rd?.messages).toEqual([expect.objectContaining({ type: MessageType.AppendResp, term, to: 'c' })]);
    expect(b.stats.stale).toBeGreaterThan(0);
  });

  it('messages for another group or another node are dropped and counted', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const b = c.node('b');
    b.step({ ...valid, group: 2 });
    b.step({ ...valid, to: 'c' });
    expect(b.stats.wrongGroup).toBe(1);
    expect(b.stats.malformed).toBe(1);
    expect(b.hasReady()).toBe(false);
  });

  it('an Append whose entries skip indexes or go back in term is malformed', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const b = c.node('b');
    b.step({
      ...valid,
      index: 0,
      logTerm: 0,
      entries: [{ index: asLogIndex(3), term: asTerm(1), type: 0, data: new Uint8Array() }],
    });
    b.step({
      ...valid,
      term: 3,
      index: 0,
      logTerm: 0,
      entries: [
        { index: asLogIndex(1), term: asTerm(3), type: 0, data: new Uint8Array() },
        { index: asLogIndex(2), term: asTerm(2), type: 0, data: new Uint8Array() },
      ],
    });
    expect(b.stats.malformed).toBe(2);
    expect(b.lastIndex).toBe(0);
  });
});
