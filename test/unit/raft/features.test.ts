import { describe, expect, it } from 'vitest';
import { MessageType } from '../../../src/raft/types.js';
import type { Message } from '../../../src/raft/types.js';
import { TestCluster, member, texts } from './harness.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('raft - ReadIndex', () => {
  it('answers with the commit index once a heartbeat round confirms leadership', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.stabilize();
    c.node('a').readIndex(5);
    const first = c.processReady('a');
    expect(first?.readStates).toEqual([]); // not before a quorum answered
    c.stabilize();
    const states = c.peer('a').readies.flatMap((r) => r.readStates);
    expect(states).toEqual([{ ctx: 5, index: 2 }]);
    expect(c.node('a').stats.readIndexReads).toBe(1);
  });

  it('an isolated leader never answers a read (it cannot confirm leadership)', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('a');
    c.node('a').readIndex(1);
    for (let k = 0; k < 25; k++) {
      c.tick('a');
      c.stabilize();
    }
    const a = c.peer('a');
    expect(a.readies.flatMap((r) => r.readStates)).toEqual([]);
    expect(a.readies.flatMap((r) => r.droppedReads)).toEqual([{ ctx: 1, reason: 'stepped-down' }]);
  });

  it('a follower refuses reads', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.node('b').readIndex(3);
    expect(c.processReady('b')?.droppedReads).toEqual([{ ctx: 3, reason: 'not-leader' }]);
  });
});

describe('raft - leadership transfer', () => {
  it('hands leadership to a caught-up follower with TimeoutNow', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.stabilize();
    expect(c.node('a').transferLeader('b')).toEqual({ ok: true });
    c.stabilize();
    expect(c.leaders()).toEqual(['b']);
    expect(c.node('b').stats.transfers).toBe(1);
    expect(c.node('b').currentTerm).toBe(2);
  });

  it('catches a lagging target up first, and refuses proposals meanwhile', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.isolate('c');
    c.propose('a', 'x');
    c.stabilize();
    c.heal();
    expect(c.node('a').transferLeader('c').ok).toBe(true);
    c.node('a').propose(9, enc('y'));
    expect(c.processReady('a')?.droppedProposals).toEqual([{ id: 9, reason: 'transfer-in-progress' }]);
    c.stabilize();
    expect(c.node('c').lastIndex).toBe(c.node('a').lastIndex);
    expect(c.leaders()).toEqual(['c']);
  });

  it('refuses a transfer to a non-member', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    expect(c.node('a').transferLeader('z')).toEqual({ ok: false, reason: 'invalid' });
  });
});

describe('raft - snapshots', () => {
  it('a lagging follower receives a compacted log as a snapshot in chunks', () => {
    const c = new TestCluster(['a', 'b', 'c'], { snapshotChunkBytes: 16 });
    c.elect('a');
    c.isolate('c');
    for (let k = 0; k < 10; k++) c.propose('a', `e${k}`, k);
    c.stabilize();
    c.tickAll(1);
    const a = c.peer('a');
    const applied = a.node.commitIndex;
    const snap = a.node.buildSnapshot(applied, new Uint8Array(50).fill(7));
    a.storage.createSnapshot(snap);
    a.storage.compact(applied);
    c.heal();
    let chunks = 0;
    for (let k = 0; k < 20; k++) {
      c.tick('a');
      c.stabilize(1000, (m) => {
        if (m.type === MessageType.Snapshot) chunks++;
        return true;
      });
    }
    const cc = c.peer('c');
    expect(chunks).toBeGreaterThanOrEqual(4); // 50 bytes in 16-byte chunks
    expect(cc.node.stats.snapshotsInstalled).toBe(1);
    expect(a.node.stats.snapshotsSent).toBe(1);
    const installed = cc.readies.find((r) => r.snapshot !== null)?.snapshot;
    expect(installed?.meta.index).toBe(applied);
    expect(installed?.data).toEqual(new Uint8Array(50).fill(7));
    expect(cc.storage.snapshot()?.meta.membership.members.length).toBe(3);
    c.propose('a', 'after');
    c.stabilize();
    c.tickAll(1);
    expect(texts(cc.applied)).toEqual(['after']);
    expect(cc.node.commitIndex).toBe(a.node.commitIndex);
  });
});

describe('raft - snapshots over a codec that drops SnapshotResp.snapshotIndex', () => {
  it('still completes the transfer', () => {
    const c = new TestCluster(['a', 'b', 'c'], { snapshotChunkBytes: 8 });
    c.elect('a');
    c.isolate('c');
    for (let k = 0; k < 5; k++) c.propose('a', `e${k}`, k);
    c.stabilize();
    c.tickAll(1);
    const a = c.peer('a');
    const snap = a.node.buildSnapshot(a.node.commitIndex, new Uint8Array(30).fill(3));
    a.storage.createSnapshot(snap);
    a.storage.compact(a.node.commitIndex);
    c.heal();
    for (let k = 0; k < 20; k++) {
      c.tick('a');
      c.stabilize(1000, (m) => {
        if (m.type === MessageType.SnapshotResp) delete m.snapshotIndex;
        return true;
      });
    }
    expect(c.node('c').stats.snapshotsInstalled).toBe(1);
    expect(c.node('c').commitIndex).toBe(a.node.commitIndex);
  });
});

describe('raft - membership', () => {
  it('adds a learner that catches up without voting, then promotes it', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.stabilize();
    c.add('d', { members: [] }, 'd-s1');
    const r = c.node('a').addLearner({ id: 'd', storageId: 'd-s1', address: 'd' });
    expect(r.ok).toBe(true);
    expect(c.node('a').addLearner({ id: 'e', storageId: 'e-s1', address: 'e' })).toEqual({
      ok: false,
      reason: 'change-in-progress',
    });
    c.tickAll(2);
    expect(c.node('d').lastIndex).toBe(c.node('a').lastIndex);
    expect(c.node('d').softState().role).toBe('learner');
    for (let k = 0; k < 40; k++) c.tick('d'); // a learner never campaigns
    expect(c.node('d').stats.preCampaigns).toBe(0);
    expect(c.node('a').promote('d').ok).toBe(true);
    c.tickAll(2);
    expect(c.node('d').currentMembership.members.find((m) => m.id === 'd')?.role).toBe('voter');
  });

  it('refuses a change before the leader committed an entry of its term (the single-server fix)', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const a = c.node('a');
    for (let k = 0; k < 100 && a.currentRole !== 'leader'; k++) {
      a.tick();
      c.stabilize(1000, (m) => m.type !== MessageType.Append); // the no-op never arrives
    }
    expect(a.currentRole).toBe('leader');
    expect(a.removeMember('c')).toEqual({ ok: false, reason: 'no-commit-in-term' });
    c.tickAll(2);
    expect(a.commitIndex).toBe(1);
    expect(a.removeMember('c').ok).toBe(true);
  });

  it('removing the leader: it steps down once the removal commits and hands over', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.stabilize();
    expect(c.node('a').removeMember('a').ok).toBe(true);
    c.stabilize();
    c.tickAll(3);
    const leaders = c.leaders();
    expect(leaders.length).toBe(1);
    expect(leaders[0]).not.toBe('a');
    expect(c.node('a').currentRole).toBe('follower');
    c.propose(leaders[0] as string, 'after');
    c.stabilize();
    c.tickAll(1);
    expect(texts(c.peer(leaders[0] as string).applied)).toContain('after');
  });

  it('a config entry takes effect when appended and reverts when truncated', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd', 'e']);
    c.elect('a');
    c.propose('a', 'x');
    c.stabilize();
    for (const to of ['c', 'd', 'e']) c.cut.add(`a->${to}`);
    expect(c.node('a').removeMember('c').ok).toBe(true); // reaches b only: never commits
    c.stabilize();
    const b = c.node('b');
    expect(b.currentMembership.members.map((m) => m.id)).toEqual(['a', 'b', 'd', 'e']); // effective on append
    for (const x of ['a', 'b']) for (const y of ['c', 'd', 'e']) c.cut.add(`${x}->${y}`).add(`${y}->${x}`);
    const majority = ['c', 'd', 'e'];
    for (let k = 0; k < 100 && !c.leaders().some((l) => majority.includes(l)); k++) {
      for (const id of majority) c.tick(id);
      c.stabilize();
    }
    const leader = c.leaders().find((l) => majority.includes(l)) as string;
    expect(leader).toBeDefined();
    c.heal();
    for (let k = 0; k < 5; k++) {
      c.tick(leader);
      c.stabilize();
    }
    expect(b.stats.truncations).toBe(1);
    expect(b.stats.configReverts).toBe(1);
    expect(b.currentMembership.members.map((m) => m.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(c.node('a').currentMembership.members.length).toBe(5);
  });

  it('ignores votes and acknowledgements from a member whose storage id changed (wiped disk)', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.stabilize();
    const a = c.node('a');
    const before = a.stats.storageMismatch;
    const ack: Message = {
      type: MessageType.AppendResp,
      group: 1,
      term: a.currentTerm,
      from: 'b',
      fromStorage: 'b-s2',
      to: 'a',
      index: 2,
    };
    a.step(ack);
    expect(a.stats.storageMismatch).toBe(before + 1);
    // A wiped node (new storage id, same id) restarted with an empty log refuses to vote.
    const wiped = c.add('c', { members: [member('a'), member('b'), member('c')] }, 'c-s2');
    wiped.node.step({
      type: MessageType.Vote,
      group: 1,
      term: 9,
      from: 'b',
      fromStorage: 'b-s1',
      to: 'c',
      index: 5,
      logTerm: 5,
    });
    expect(c.processReady('c')?.messages[0]?.reject).toBe(true);
    for (let k = 0; k < 40; k++) wiped.node.tick();
    expect(wiped.node.stats.preCampaigns).toBe(0);
  });
});
