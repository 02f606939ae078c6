// A member added at run time carries its peer address in the membership (issue 16: every member must
// be able to dial it, after restarts too). The core only carries the field: through the config entry,
// a promotion, an identity bind, a snapshot, and the peer codec.
import { describe, expect, it } from 'vitest';
import { EntryType, MessageType, type Message } from '../../../src/raft/types.js';
import { decodeMessage, encodeMessage, validateMessage } from '../../../src/rpc/peer-codec.js';
import { TestCluster } from './harness.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';

describe('raft - a member peer address', () => {
  it('is replicated with the learner, kept by promote and bind, and carried by a snapshot', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.elect('a');
    c.propose('a', 'x');
    c.stabilize();
    c.add('d', { members: [] }, 'd-s1');
    expect(c.node('a').addLearner({ id: 'd', storageId: '', address: 'd:7001', peerAddress: 'd:7101' }).ok).toBe(true);
    c.tickAll(2);
    const d = (id: string) => c.node(id).currentMembership.members.find((m) => m.id === 'd');
    for (const id of ['a', 'b', 'c', 'd']) expect(d(id)).toMatchObject({ role: 'learner', peerAddress: 'd:7101' });
    // The leader binds d's storage id once heard; the peer address stays.
    const bound = c.node('a').currentMembership.members.map((m) => (m.id === 'd' ? { ...m, storageId: 'd-s1' } : m));
    expect(c.node('a').changeMembership({ type: 'bind', members: bound }).ok).toBe(true);
    c.tickAll(2);
    expect(c.node('a').promote('d').ok).toBe(true);
    c.tickAll(2);
    for (const id of ['a', 'b', 'c', 'd'])
      expect(d(id)).toEqual({ id: 'd', storageId: 'd-s1', address: 'd:7001', peerAddress: 'd:7101', role: 'voter' });
    // A snapshot taken now carries it (what a node catching up from a snapshot learns).
    const index = c.node('a').commitIndex;
    const snap = c.node('a').buildSnapshot(index, new Uint8Array(0));
    expect(snap.meta.membership.members.find((m) => m.id === 'd')?.peerAddress).toBe('d:7101');
  });

  it('crosses the peer codec in config entries and snapshot metadata; a non-string is refused', () => {
    const membership = {
      members: [{ id: 'd', storageId: 'd-s1', address: 'd:7001', peerAddress: 'd:7101', role: 'learner' as const }],
    };
    const msg: Message = {
      type: MessageType.Append,
      group: 1,
      term: 2,
      from: 'a',
      fromStorage: 'a-s1',
      to: 'b',
      index: 1,
      logTerm: 1,
      commit: 1,
      entries: [
        { index: asLogIndex(2), term: asTerm(2), type: EntryType.Config, data: new Uint8Array(0), config: membership },
      ],
    };
    expect(decodeMessage(encodeMessage(msg))).toEqual(msg);
    const bad = structuredClone(msg);
    (bad.entries?.[0]?.config?.members[0] as unknown as Record<string, unknown>)['peerAddress'] = 7;
    expect(validateMessage(bad)).toMatch(/peerAddress/);
  });
});
