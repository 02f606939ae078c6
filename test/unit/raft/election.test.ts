import { describe, expect, it } from 'vitest';
import { MessageType } from '../../../src/raft/types.js';
import { TestCluster } from './harness.js';

describe('raft - election', () => {
  it('elects one leader with pre-vote, and the leader commits a no-op of its term', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    expect(c.leaders()).toEqual(['a']);
    const a = c.node('a');
    expect(a.currentTerm).toBe(1);
    expect(a.stats.preCampaigns).toBe(1);
    expect(a.commitIndex).toBe(1);
    expect(a.termAt(1)).toBe(1);
    for (const id of ['b', 'c']) {
      expect(c.node(id).leader).toBe('a');
      expect(c.node(id).commitIndex).toBe(1);
    }
  });

  it('randomizes election timeouts within [election, 2·election) ticks', () => {
    const firsts: number[] = [];
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) {
      const c = new TestCluster([id], { electionTicks: 10 });
      let ticks = 0;
      while (c.node(id).currentRole !== 'leader' && ticks < 100) {
        c.node(id).tick();
        ticks++;
      }
      firsts.push(ticks);
    }
    for (const t of firsts) expect(t >= 10 && t < 20).toBe(true);
    expect(new Set(firsts).size).toBeGreaterThan(1);
  });

  it('a split vote is retried within [⌈election/2⌉, election) ticks, and the retry elects a leader', () => {
    const c = new TestCluster(['a', 'b', 'c'], { electionTicks: 10 });
    c.elect('a');
    c.isolate('a'); // the leader is gone
    // b and c time out before either hears the other: both pre-vote, grant each other, and split the vote.
    for (const id of ['b', 'c']) {
      for (let k = 0; k < 40 && c.node(id).currentRole !== 'precandidate'; k++) c.tick(id);
      expect(c.node(id).currentRole).toBe('precandidate');
    }
    c.stabilize();
    for (const id of ['b', 'c']) {
      expect(c.node(id).currentRole).toBe('candidate');
      expect(c.node(id).currentTerm).toBe(2);
    }
    // A follower's timeout is [10, 20) ticks; a candidate's is [5, 10).
    const pre = c.node('b').stats.preCampaigns;
    let ticks = 0;
    while (c.node('b').stats.preCampaigns === pre && ticks < 40) {
      c.tick('b');
      ticks++;
    }
    expect(ticks).toBeGreaterThanOrEqual(5);
    expect(ticks).toBeLessThan(10);
    c.stabilize();
    expect(c.leaders().filter((id) => id !== 'a')).toEqual(['b']); // a, cut off, has not ticked
    expect(c.node('b').currentTerm).toBe(3);
    expect(c.node('c').leader).toBe('b');
  });

  it('a partitioned node does not inflate its term (pre-vote) and rejoins without disruption', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    for (let k = 0; k < 100; k++) {
      c.tick('c');
      c.stabilize();
    }
    expect(c.node('c').currentTerm).toBe(1);
    expect(c.node('c').stats.preCampaigns).toBeGreaterThan(0);
    expect(c.node('c').stats.campaigns).toBe(0);
    c.heal();
    c.tickAll(3);
    expect(c.leaders()).toEqual(['a']);
    expect(c.node('a').currentTerm).toBe(1);
  });

  it('without pre-vote the partitioned node does bump its term (control for the test above)', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: false });
    c.elect('a');
    c.isolate('c');
    for (let k = 0; k < 100; k++) c.tick('c');
    c.stabilize();
    expect(c.node('c').currentTerm).toBeGreaterThan(1);
  });

  it('check-quorum: a leader that hears from no majority for an election timeout steps down', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('a');
    // The first round still sees the acks from before the cut; the second finds no majority.
    for (let k = 0; k < 19; k++) c.tick('a');
    expect(c.node('a').currentRole).toBe('leader');
    for (let k = 0; k < 1; k++) {
      c.tick('a');
      c.stabilize();
    }
    expect(c.node('a').currentRole).toBe('follower');
    expect(c.node('a').stats.checkQuorumStepDowns).toBe(1);
  });

  it('followers in lease ignore vote requests from a node that lost touch', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: false });
    c.elect('a');
    // c is cut off from a only, so it times out and campaigns; b has heard from a recently.
    c.cut.add('a->c');
    for (let k = 0; k < 25; k++) {
      c.tick('a');
      c.tick('b');
      c.tick('c');
      c.stabilize();
    }
    expect(c.node('a').currentRole).toBe('leader');
    expect(c.node('b').stats.ignored).toBeGreaterThan(0);
  });

  it('a vote is granted once per term and only to an up-to-date log', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.stabilize();
    const b = c.node('b');
    const before = b.currentTerm;
    // A stale candidate (empty log) at a higher term: b moves to its term but refuses the vote.
    b.tick();
    for (let k = 0; k < 20; k++) b.tick(); // leave the lease
    c.processAllReady();
    c.inbox = [];
    b.step({
      type: MessageType.Vote,
      group: 1,
      term: before + 5,
      from: 'c',
      fromStorage: 'c-s1',
      to: 'b',
      index: 0,
      logTerm: 0,
    });
    const rd = c.processReady('b');
    const resp = rd?.messages.find((m) => m.type === MessageType.VoteResp);
    expect(resp?.reject).toBe(true);
    expect(b.currentTerm).toBe(before + 5);
    expect(rd?.hardState?.vote).toBe(null);
    expect(rd?.mustSync).toBe(true);
  });

  it('a granted vote is in the same Ready as its durable hard state, with mustSync', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const b = c.node('b');
    b.step({
      type: MessageType.Vote,
      group: 1,
      term: 3,
      from: 'a',
      fromStorage: 'a-s1',
      to: 'b',
      index: 0,
      logTerm: 0,
    });
    const rd = c.processReady('b');
    expect(rd?.messages.find((m) => m.type === MessageType.VoteResp)?.reject).toBeUndefined();
    expect(rd?.hardState).toEqual({ term: 3, vote: 'a', commit: 0 });
    expect(rd?.mustSync).toBe(true);
    // A second candidate in the same term is refused.
    b.step({
      type: MessageType.Vote,
      group: 1,
      term: 3,
      from: 'c',
      fromStorage: 'c-s1',
      to: 'b',
      index: 0,
      logTerm: 0,
    });
    expect(c.processReady('b')?.messages[0]?.reject).toBe(true);
  });

  it('a restarted node remembers its vote', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.node('b').step({
      type: MessageType.Vote,
      group: 1,
      term: 3,
      from: 'a',
      fromStorage: 'a-s1',
      to: 'b',
      index: 0,
      logTerm: 0,
    });
    c.processReady('b');
    const b = c.restart('b').node;
    expect(b.currentTerm).toBe(3);
    b.step({
      type: MessageType.Vote,
      group: 1,
      term: 3,
      from: 'c',
      fromStorage: 'c-s1',
      to: 'b',
      index: 0,
      logTerm: 0,
    });
    expect(c.processReady('b')?.messages[0]?.reject).toBe(true);
    b.step({
      type: MessageType.Vote,
      group: 1,
      term: 3,
      from: 'a',
      fromStorage: 'a-s1',
      to: 'b',
      index: 0,
      logTerm: 0,
    });
    expect(c.processReady('b')?.messages[0]?.reject).toBeUndefined();
  });
});
