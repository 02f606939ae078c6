// Bootstrap identity (docs/design.md §5): members start unbound (''), any storage counts until the first
// leader commits every member's storage id; afterwards a wiped member is not counted.
import { describe, expect, it } from 'vitest';
import { bindMembers } from '../../../src/raft/membership.js';
import { MessageType, type Member, type Membership } from '../../../src/raft/types.js';
import { TestCluster } from './harness.js';

const ids = ['a', 'b', 'c'];
/** The membership node `self` starts from: only its own storage id and address are known. */
function bootstrap(self: string): Membership {
  return {
    members: ids.map((id): Member => ({
      id,
      storageId: id === self ? `${id}-s1` : '',
      address: id === self ? `${id}:7001` : '',
      role: 'voter',
    })),
  };
}

describe('bootstrap identity binding', () => {
  it('elects with unbound members, then binds, then ignores a wiped member', () => {
    const c = new TestCluster([]);
    for (const id of ids) c.add(id, bootstrap(id));
    c.elect('a');
    expect(c.leaders()).toEqual(['a']);
    c.propose('a', 'x');
    c.stabilize();
    const bound = ids.map((id): Member => ({ id, storageId: `${id}-s1`, address: `${id}:7001`, role: 'voter' }));
    const r = c.node('a').changeMembership({ type: 'bind', members: bound });
    expect(r.ok).toBe(true);
    c.stabilize();
    for (const id of ids) expect(c.node(id).status().membership.members).toEqual(bound);
    // A later ack from b with another storage id (its disk was wiped) is not counted.
    const before = c.node('a').stats.storageMismatch;
    c.node('a').step({
      type: MessageType.AppendResp,
      group: 1,
      term: c.node('a').currentTerm,
      from: 'b',
      fromStorage: 'b-s2',
      to: 'a',
      index: 3,
    });
    expect(c.node('a').stats.storageMismatch).toBe(before + 1);
  });

  it('refuses a bind that changes a bound storage id, an id or a role', () => {
    const cur: Member[] = [
      { id: 'a', storageId: 'a-s1', address: 'a:1', role: 'voter' },
      { id: 'b', storageId: '', address: '', role: 'voter' },
    ];
    expect(bindMembers(cur, [{ ...cur[0]!, storageId: 'a-s9' }, cur[1]!])).toBe('invalid');
    expect(bindMembers(cur, [cur[0]!, { ...cur[1]!, role: 'learner' }])).toBe('invalid');
    expect(bindMembers(cur, [cur[0]!, { ...cur[1]!, id: 'z' }])).toBe('invalid');
    expect(bindMembers(cur, cur)).toBe('invalid');
    expect(bindMembers(cur, [cur[0]!, { ...cur[1]!, storageId: 'b-s1', address: 'b:1' }])).toEqual({
      members: [cur[0], { ...cur[1], storageId: 'b-s1', address: 'b:1' }],
    });
  });
});
