// Shared by the rpc unit tests and the peer integration tests: message builders, arbitraries and a
// condition wait with a deadline (never a bare sleep).
import fc from 'fast-check';
import { EntryType, MessageType } from '../../../src/raft/types.js';
import type { Entry, Member, Membership, Message } from '../../../src/raft/types.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';

export function message(fields: Partial<Message> & Pick<Message, 'type' | 'from' | 'to'>): Message {
  return { group: 0, term: 1, fromStorage: `s-${fields.from}`, ...fields };
}

/** Polls `cond` until it holds; throws with `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const uint = fc.oneof(fc.nat(1000), fc.maxSafeNat());
const nodeId = fc.string({ minLength: 1, maxLength: 12 });
const bytes = fc.uint8Array({ maxLength: 64 });

const member: fc.Arbitrary<Member> = fc.record({
  id: nodeId,
  storageId: fc.string({ maxLength: 16 }),
  address: fc.string({ maxLength: 24 }),
  role: fc.constantFrom('voter' as const, 'learner' as const),
});

const membership: fc.Arbitrary<Membership> = fc.record(
  { members: fc.array(member, { maxLength: 5 }), outgoing: fc.array(member, { maxLength: 5 }) },
  { requiredKeys: ['members'] },
);

const logIndexArb = uint.map(asLogIndex);
const termArb = uint.map(asTerm);

const entry: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({
    index: logIndexArb,
    term: termArb,
    type: fc.constantFrom(EntryType.Normal, EntryType.NoOp),
    data: bytes,
  }),
  fc.record({
    index: logIndexArb,
    term: termArb,
    type: fc.constant(EntryType.Config),
    data: bytes,
    config: membership,
  }),
);

/** Any well-formed Message (every optional field independently present or absent). */
export const arbitraryMessage: fc.Arbitrary<Message> = fc
  .record(
    {
      type: fc.constantFrom(...Object.values(MessageType).filter((t) => t !== MessageType.Snapshot)),
      group: fc.nat(16),
      term: uint,
      from: nodeId,
      fromStorage: fc.string({ maxLength: 16 }),
      to: nodeId,
      index: uint,
      logTerm: uint,
      entries: fc.array(entry, { maxLength: 4 }),
      commit: uint,
      reject: fc.boolean(),
      rejectHint: uint,
      rejectTerm: uint,
      context: uint,
      transfer: fc.boolean(),
    },
    { requiredKeys: ['type', 'group', 'term', 'from', 'fromStorage', 'to'] },
  )
  .chain((m) =>
    fc.oneof(
      fc.constant<Message>(m),
      fc
        .record({
          index: uint,
          term: uint,
          membership,
          offset: uint,
          chunk: bytes,
          done: fc.boolean(),
          total: uint,
        })
        .map(({ index, term, membership: ms, offset, chunk, done, total }): Message => ({
          ...m,
          type: MessageType.Snapshot,
          snapshot: {
            meta: { group: m.group, index: asLogIndex(index), term: asTerm(term), membership: ms },
            offset,
            chunk,
            done,
            total,
          },
        })),
    ),
  );
