import { describe, expect, it } from 'vitest';
import { EntryType, MessageType } from '../../../src/raft/types.js';
import type { Message } from '../../../src/raft/types.js';
import { TestCluster, texts } from './harness.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('raft - replication', () => {
  it('replicates and applies proposals in order on every node', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    for (let k = 0; k < 5; k++) c.propose('a', `cmd${k}`, k);
    c.stabilize();
    for (const id of ['a', 'b', 'c']) {
      c.tickAll(1);
      expect(texts(c.peer(id).applied)).toEqual(['cmd0', 'cmd1', 'cmd2', 'cmd3', 'cmd4']);
    }
  });

  it('the persistence contract: an Append ack leaves in the Ready that persists its entries', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.processAllReady();
    const append = c.inbox.find((m) => m.type === MessageType.Append && m.to === 'b') as Message;
    c.inbox = [];
    c.node('b').step(append);
    const rd = c.node('b').ready();
    expect(rd.entries.map((e) => e.index)).toEqual([2]);
    expect(rd.mustSync).toBe(true);
    expect(rd.messages.find((m) => m.type === MessageType.AppendResp)?.index).toBe(2);
    c.node('b').advance();
  });

  it('batches many proposals into one Append per follower', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.processAllReady();
    c.inbox = [];
    c.node('a').proposeBatch(Array.from({ length: 20 }, (_, k) => ({ id: k, data: enc(`p${k}`) })));
    const rd = c.processReady('a');
    const appends = rd?.messages.filter((m) => m.type === MessageType.Append) ?? [];
    expect(appends.length).toBe(2);
    expect(appends[0]?.entries?.length).toBe(20);
    expect(rd?.proposed.map((p) => p.index)).toEqual(Array.from({ length: 20 }, (_, k) => k + 2));
  });

  it('a follower waiting for entries whose data left memory gets them once it is back, and no snapshot', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    for (let k = 0; k < 6; k++) c.propose('a', `e${k}`, k);
    c.stabilize();
    const a = c.peer('a');
    const kept = a.storage.entries(2, 8, Infinity);
    a.storage.evict(7, 0); // what the driver does with applied entries beyond its budget
    c.heal();
    c.inbox = [];
    c.tick('a', 3); // heartbeats: c answers behind, and the leader finds its entries unavailable
    c.stabilize();
    expect(c.node('c').lastIndex).toBeLessThan(7);
    expect(a.storage.takeWanted()?.lo).toBeLessThanOrEqual(2);
    expect(a.storage.rehydrate(kept)).toBe(2);
    a.node.resumeAppends();
    c.stabilize();
    expect(texts(c.peer('c').applied).slice(-6)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5']);
    expect(
      c
        .node('a')
        .status()
        .progress.find((p) => p.id === 'c')?.state,
    ).toBe('replicate');
  });

  it('pipelines Appends up to the in-flight window, then waits for acks', () => {
    const c = new TestCluster(['a', 'b', 'c'], { maxInflight: 3, maxMsgBytes: 1 });
    c.elect('a');
    c.processAllReady();
    c.inbox = [];
    for (let k = 0; k < 10; k++) c.propose('a', `e${k}`, k);
    c.processAllReady();
    const toB = c.inbox.filter((m) => m.type === MessageType.Append && m.to === 'b');
    expect(toB.length).toBe(3); // window full: 3 Appends of one entry each, the rest waits
    c.stabilize();
    expect(c.node('b').lastIndex).toBe(11);
  });

  it('fast back-off: a follower with a long divergent suffix is repaired in a few round trips', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('a');
    for (let k = 0; k < 30; k++) c.propose('a', `lost${k}`, k); // appended on a only
    c.stabilize();
    c.heal();
    c.isolate('a');
    c.cut.delete('b->c');
    c.cut.delete('c->b');
    for (let k = 0; k < 40 && c.leaders().filter((x) => x !== 'a').length === 0; k++) {
      c.tick('b');
      c.tick('c');
      c.stabilize();
    }
    const leader = c.leaders().find((x) => x !== 'a') as string;
    c.propose(leader, 'kept');
    c.stabilize();
    c.heal();
    let rejects = 0;
    for (let k = 0; k < 30; k++) {
      c.tick(leader);
      c.stabilize(1000, (m) => {
        if (m.type === MessageType.AppendResp && m.reject === true) rejects++;
        return true;
      });
    }
    expect(c.node('a').currentRole).toBe('follower');
    expect(c.node('a').lastIndex).toBe(c.node(leader).lastIndex);
    expect(c.node('a').stats.truncations).toBe(1);
    expect(rejects).toBeLessThanOrEqual(3); // not one per divergent entry (30)
  });

  it('caps uncommitted bytes: proposals beyond the cap are dropped, and accepted again after commit', () => {
    const c = new TestCluster(['a', 'b', 'c'], { maxUncommittedBytes: 10 });
    c.elect('a');
    c.isolate('a');
    c.node('a').propose(1, new Uint8Array(6));
    c.node('a').propose(2, new Uint8Array(6));
    const rd = c.processReady('a');
    expect(rd?.droppedProposals).toEqual([{ id: 2, reason: 'uncommitted-cap' }]);
    c.heal();
    c.stabilize();
    c.node('a').propose(3, new Uint8Array(6));
    expect(c.processReady('a')?.droppedProposals).toEqual([]);
  });

  it('drops proposals on a follower and fails pending ones on step-down', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.node('b').propose(7, enc('x'));
    expect(c.processReady('b')?.droppedProposals).toEqual([{ id: 7, reason: 'not-leader' }]);
    c.isolate('a');
    c.node('a').propose(8, enc('y'));
    c.node('a').readIndex(99);
    c.processAllReady();
    for (let k = 0; k < 20; k++) c.tick('a');
    const rd = c.processReady('a');
    expect(rd?.droppedProposals).toEqual([{ id: 8, reason: 'stepped-down' }]);
    expect(rd?.droppedReads).toEqual([{ ctx: 99, reason: 'stepped-down' }]);
  });

  it('Figure 8: a new leader does not commit an old-term entry by counting replicas', () => {
    const noop = { index: asLogIndex(1), term: asTerm(1), type: EntryType.NoOp, data: new Uint8Array(0) };
    const old = { index: asLogIndex(2), term: asTerm(1), type: EntryType.Normal, data: enc('old') };
    const d = new TestCluster(['a', 'b', 'c']);
    for (const id of ['a', 'b', 'c']) {
      d.peer(id).storage.append(id === 'c' ? [noop] : [noop, old]);
      d.peer(id).storage.setHardState({ term: asTerm(1), vote: null, commit: asLogIndex(1) });
      d.restart(id);
    }
    // a wins term 2 with b's vote; none of its Appends are delivered, acks are fabricated below.
    const a2 = d.node('a');
    d.cut.add('a->c');
    d.stabilize();
    for (let k = 0; k < 100 && a2.currentRole !== 'leader'; k++) {
      a2.tick();
      d.stabilize(1000, (m) => !(m.type === MessageType.Append && m.from === 'a'));
    }
    expect(a2.currentRole).toBe('leader');
    expect(a2.termAt(3)).toBe(a2.currentTerm);
    // b holds index 2 (term 1): with a, that is a majority, but it is not of the current term.
    a2.step({
      type: MessageType.AppendResp,
      group: 1,
      term: a2.currentTerm,
      from: 'b',
      fromStorage: 'b-s1',
      to: 'a',
      index: 2,
    });
    expect(a2.commitIndex).toBe(1);
    // Once b holds the no-op of term 2, everything up to it commits.
    a2.step({
      type: MessageType.AppendResp,
      group: 1,
      term: a2.currentTerm,
      from: 'b',
      fromStorage: 'b-s1',
      to: 'a',
      index: 3,
    });
    expect(a2.commitIndex).toBe(3);
  });
});
