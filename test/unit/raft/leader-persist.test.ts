import { describe, expect, it } from 'vitest';
import { MessageType } from '../../../src/raft/types.js';
import type { Message } from '../../../src/raft/types.js';
import type { Ready } from '../../../src/raft/types.js';
import { TestCluster, texts } from './harness.js';

/** The driver's step 1 then advance(): the write is durable. */
function persistAndAdvance(c: TestCluster, id: string, rd: Ready): void {
  const p = c.peer(id);
  p.storage.append(rd.entries);
  if (rd.hardState !== null) p.storage.setHardState(rd.hardState);
  p.node.advance();
}

// The leader replicates while it writes (Raft thesis §10.2.1): its Appends may leave before its own
// write, so it must count its own log for commit only once advance() says the write is durable.
describe('raft - a leader writes its log in parallel with replication', () => {
  it('a leader Ready with new entries may send before persisting; a follower Ready may not', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.processAllReady();
    c.inbox = [];
    c.propose('a', 'x');
    const rd = c.node('a').ready();
    expect(rd.entries.length).toBe(1);
    expect(rd.sendBeforePersist).toBe(true);
    const append = rd.messages.find((m) => m.type === MessageType.Append && m.to === 'b') as Message;
    persistAndAdvance(c, 'a', rd);
    c.node('b').step(append);
    const frd = c.node('b').ready();
    expect(frd.sendBeforePersist).toBe(false);
    persistAndAdvance(c, 'b', frd);
  });

  it('one follower ack does not commit while the leader has not finished its own write', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.processAllReady();
    c.inbox = [];
    c.propose('a', 'x');
    const rd = c.node('a').ready(); // the write of entry `x` is "in flight": advance() not called yet
    const index = rd.entries[0]?.index as number;
    const toB = rd.messages.find((m) => m.type === MessageType.Append && m.to === 'b') as Message;
    c.node('b').step(toB);
    const brd = c.node('b').ready();
    persistAndAdvance(c, 'b', brd);
    const ack = brd.messages.find((m) => m.type === MessageType.AppendResp) as Message;
    c.node('a').step(ack);
    expect(c.node('a').commitIndex).toBeLessThan(index); // a's own copy is not durable yet
    persistAndAdvance(c, 'a', rd); // now it is
    expect(c.node('a').commitIndex).toBe(index);
  });

  it('two follower acks commit in a 3-node cluster even before the leader finished its write', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.processAllReady();
    c.inbox = [];
    c.propose('a', 'y');
    const rd = c.node('a').ready();
    const index = rd.entries[0]?.index as number;
    for (const id of ['b', 'c']) {
      c.node(id).step(rd.messages.find((m) => m.type === MessageType.Append && m.to === id) as Message);
      const frd = c.node(id).ready();
      persistAndAdvance(c, id, frd);
      c.node('a').step(frd.messages.find((m) => m.type === MessageType.AppendResp) as Message);
    }
    expect(c.node('a').commitIndex).toBe(index);
    persistAndAdvance(c, 'a', rd);
    c.stabilize();
    expect(texts(c.peer('a').applied)).toContain('y');
  });
});
