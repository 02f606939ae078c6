import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { describe, expect, it } from 'vitest';
import { MessageType } from '../../../src/raft/types.js';
import { TestCluster } from './harness.js';

// A node whose storage lost state it had promised restarts with HardState.recovery (docs/faults.md P11).
describe('raft - recovery after a storage loss', () => {
  function clusterWithRecoveringC(): TestCluster {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    for (let k = 1; k <= 3; k++) c.propose('a', `x${k}`, k);
    c.stabilize();
    // c had promised two more entries than its disk kept.
    const floor = { index: asLogIndex(c.node('c').lastIndex + 2), term: asTerm(c.node('c').currentTerm) };
    // As the node storage does: one term up, no vote, recovery floor at what it had promised.
    const s = c.peer('c').storage;
    s.setHardState({ term: asTerm(floor.term + 1), vote: null, commit: s.hardState().commit, recovery: floor });
    c.restart('c');
    return c;
  }

  it('neither campaigns nor grants (pre-)votes while recovering', () => {
    const c = clusterWithRecoveringC();
    c.isolate('c');
    c.tick('c', 200);
    c.stabilize();
    const n = c.node('c');
    expect(n.stats.preCampaigns + n.stats.campaigns).toBe(0);
    expect(n.status().recovering).not.toBeNull();

    c.heal();
    // b asks c for a vote: c refuses, though b's log is as long as its own.
    const b = c.node('b');
    c.node('c').step({
      type: MessageType.Vote,
      group: 1,
      term: n.currentTerm + 1,
      from: 'b',
      fromStorage: b.storageId,
      to: 'c',
      index: b.lastIndex,
      logTerm: b.termAt(b.lastIndex) ?? 0,
      transfer: true,
    });
    c.processReady('c');
    const answer = c.inbox.find((m) => m.type === MessageType.VoteResp && m.from === 'c');
    expect(answer?.reject).toBe(true);
    c.inbox = [];

    // A candidate whose log covers c's floor holds everything c may have acknowledged: c votes.
    const floor = n.status().recovering as { index: number; term: number };
    c.node('c').step({
      type: MessageType.Vote,
      group: 1,
      term: n.currentTerm + 2,
      from: 'b',
      fromStorage: b.storageId,
      to: 'c',
      index: floor.index,
      logTerm: floor.term,
      transfer: true,
    });
    c.processReady('c');
    const granted = c.inbox.find((m) => m.type === MessageType.VoteResp && m.from === 'c');
    expect(granted?.reject).toBeUndefined();
    expect(n.stats.preCampaigns + n.stats.campaigns).toBe(0);
    c.inbox = [];
  });

  it('its higher term deposes the old leader; it votes again once a later-term entry commits', () => {
    const c = clusterWithRecoveringC();
    const before = c.node('a').currentTerm;
    c.tickAll(5); // a's heartbeat meets c's higher term: a steps down
    expect(c.node('a').currentTerm).toBeGreaterThan(before);
    for (let k = 0; k < 100 && c.leaders().length === 0; k++) c.tickAll(1);
    const [leader] = c.leaders();
    expect(leader === 'a' || leader === 'b').toBe(true);
    c.stabilize();
    const n = c.node('c');
    expect(n.status().recovering).toBeNull();
    expect(n.stats.recoveriesEnded).toBe(1);
    // The end of recovery is persisted (a restart now is not recovering).
    expect(c.peer('c').storage.hardState().recovery).toBeUndefined();
    expect(n.commitIndex).toBe(c.node(leader as string).commitIndex);
  });
});
