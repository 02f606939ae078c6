// Several Readys in flight (pipelined writes, src/raft/log.ts): what each hands out, and what advance()
// may mark durable when entries handed out earlier were replaced meanwhile.
import { describe, expect, it } from 'vitest';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { makeRaftConfig } from '../../../src/raft/config.js';
import { RaftNode } from '../../../src/raft/node.js';
import { Rng } from '../../../src/raft/rng.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import { EntryType, MessageType } from '../../../src/raft/types.js';
import type { Entry, Membership, Message, Ready } from '../../../src/raft/types.js';

const membership: Membership = {
  members: ['a', 'b', 'c'].map((id) => ({ id, storageId: `${id}-d0`, address: id, role: 'voter' as const })),
};

const entries = (from: number, to: number, term: number): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, k) => ({
    index: asLogIndex(from + k),
    term: asTerm(term),
    type: EntryType.Normal,
    data: new Uint8Array([term, from + k]),
  }));

/** An Append from `leader` in `term` to follower b. */
const append = (leader: string, term: number, prev: number, prevTerm: number, es: Entry[]): Message => ({
  type: MessageType.Append,
  group: 7,
  term: asTerm(term),
  from: leader,
  fromStorage: `${leader}-d0`,
  to: 'b',
  index: asLogIndex(prev),
  logTerm: asTerm(prevTerm),
  entries: es,
  commit: asLogIndex(0),
});

/** The driver's write of one Ready (in the order the Readys were taken). */
function write(storage: MemoryStorage, rd: Ready): void {
  storage.append(rd.entries);
  if (rd.hardState !== null) storage.setHardState(rd.hardState);
}

const span = (rd: Ready): string => rd.entries.map((e) => `${e.index}/${e.term}`).join(' ');

describe('raft - pipelined writes', () => {
  it('entries replaced while their write is in flight, then restored by a later leader, are written again', () => {
    const storage = new MemoryStorage(membership);
    const b = new RaftNode(makeRaftConfig({ id: 'b', storageId: 'b-d0', group: 7 }), storage, new Rng(1));
    b.step(append('a', 2, 0, 0, entries(1, 4, 2)));
    const r1 = b.ready(); // 1..4 of term 2, in flight
    expect(span(r1)).toBe('1/2 2/2 3/2 4/2');
    b.step(append('c', 3, 1, 2, entries(2, 3, 3)));
    const r2 = b.ready(); // 2..3 of term 3 replace them, in flight behind r1
    expect(span(r2)).toBe('2/3 3/3');
    // A term-4 leader that never had the term-3 entries restores 2..4 of term 2.
    b.step(append('a', 4, 1, 2, entries(2, 4, 2)));
    write(storage, r1);
    b.advance(); // r1 is durable: 1..4 of term 2 — but r2 will overwrite 2..3 on the disk
    write(storage, r2);
    b.advance();
    // The restored entries must still be handed out: on disk, 2..3 are of term 3 now.
    expect(b.hasReady()).toBe(true);
    const r3 = b.ready();
    expect(span(r3)).toBe('2/2 3/2 4/2');
    const ack = r3.messages.find((m) => m.type === MessageType.AppendResp && m.to === 'a' && m.term === 4);
    expect(ack?.index).toBe(4);
    write(storage, r3);
    b.advance();
    expect([2, 3, 4].map((i) => storage.term(i))).toEqual([2, 2, 2]);
  });
});
