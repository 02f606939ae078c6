import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EntryType, MessageType } from '../../../src/raft/types.js';
import type { Message } from '../../../src/raft/types.js';
import {
  decodeMessage,
  encodeMessage,
  headerMismatch,
  headerOf,
  methodFor,
  validateMessage,
} from '../../../src/rpc/peer-codec.js';
import { decode, encode } from '../../../src/protocol/codec.js';
import { arbitraryMessage, message } from './helpers.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';

const append: Message = message({
  type: MessageType.Append,
  from: 'n1',
  to: 'n2',
  index: 4,
  logTerm: 1,
  commit: 3,
  entries: [
    { index: asLogIndex(5), term: asTerm(1), type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) },
    {
      index: asLogIndex(6),
      term: asTerm(1),
      type: EntryType.Config,
      data: new Uint8Array(0),
      config: { members: [{ id: 'n1', storageId: 's1', address: '127.0.0.1:7001', role: 'voter' }] },
    },
  ],
});

/** A deep copy of `append` with one path replaced; the result must be refused. */
function mutate(path: (string | number)[], value: unknown): unknown {
  const copy = decode(encode(append)) as Record<string | number, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path[path.length - 1]!] = value;
  return copy;
}

describe('rpc - peer codec', () => {
  it('round-trips every well-formed message exactly, with deterministic bytes', () => {
    fc.assert(
      fc.property(arbitraryMessage, (msg) => {
        const bytes = encodeMessage(msg);
        const decoded = decodeMessage(bytes);
        expect(decoded).toEqual(msg);
        expect(Uint8Array.from(encodeMessage(msg))).toEqual(Uint8Array.from(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('hands back plain Uint8Array views, not Buffers', () => {
    const decoded = decodeMessage(encodeMessage(append));
    if (typeof decoded === 'string') throw new Error(decoded);
    expect(decoded.entries?.[0]?.data.constructor).toBe(Uint8Array);
    expect(Array.from(decoded.entries?.[0]?.data ?? [])).toEqual([1, 2, 3]);
  });

  it('never throws on any value, and refuses non-messages with a reason', () => {
    const anything = fc.anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withNullPrototype: true,
      withObjectString: true,
      withSet: true,
      withSparseArray: true,
      withTypedArray: true,
    });
    fc.assert(
      fc.property(anything, (x) => {
        const result = validateMessage(x);
        expect(typeof result === 'string' || typeof result === 'object').toBe(true);
      }),
      { numRuns: 2000 },
    );
    for (const x of [null, undefined, 0, 'Append', [], new Uint8Array(4), {}]) {
      expect(typeof validateMessage(x)).toBe('string');
    }
  });

  it('never throws on random bytes, nor on mutated valid encodings', () => {
    const valid = encodeMessage(append);
    const mutated = fc
      .array(fc.record({ at: fc.nat(valid.length - 1), byte: fc.nat(255) }), { minLength: 1, maxLength: 8 })
      .map((edits) => {
        const copy = Uint8Array.from(valid);
        for (const { at, byte } of edits) copy[at] = byte;
        return copy;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 256 }), mutated), (bytes) => {
        const result = decodeMessage(bytes);
        if (typeof result !== 'string') expect(validateMessage(result)).toStrictEqual(result);
      }),
      { numRuns: 2000 },
    );
  });

  it.each<[string, (string | number)[], unknown]>([
    ['unknown type', ['type'], 'Nope'],
    ['negative term', ['term'], -1],
    ['fractional term', ['term'], 1.5],
    ['NaN index', ['index'], Number.NaN],
    ['unsafe commit', ['commit'], 2 ** 53],
    ['string group', ['group'], '0'],
    ['empty from', ['from'], ''],
    ['numeric to', ['to'], 2],
    ['missing fromStorage', ['fromStorage'], undefined],
    ['overlong id', ['from'], 'x'.repeat(257)],
    ['non-boolean reject', ['reject'], 1],
    ['entries not an array', ['entries'], 'x'],
    ['entry data as array', ['entries', 0, 'data'], [1, 2, 3]],
    ['entry data as string', ['entries', 0, 'data'], 'abc'],
    ['unknown entry type', ['entries', 0, 'type'], 7],
    ['config entry without config', ['entries', 1, 'config'], null],
    ['bad member role', ['entries', 1, 'config', 'members', 0, 'role'], 'boss'],
    ['members not an array', ['entries', 1, 'config', 'members'], {}],
  ])('refuses %s', (_name, path, value) => {
    const result = validateMessage(mutate(path, value));
    expect(typeof result).toBe('string');
    expect(typeof decodeMessage(encode(mutate(path, value)))).toBe('string');
  });

  it('refuses a bigint in memory (on the wire an int64 decodes as a number and is range-checked)', () => {
    expect(validateMessage(mutate(['term'], 3n))).toMatch(/term/);
    expect(decodeMessage(encode(mutate(['term'], 2n ** 60n)))).toMatch(/term/);
  });

  it('refuses a Snapshot message without its chunk, and a chunk in another group', () => {
    expect(validateMessage({ ...append, type: MessageType.Snapshot, entries: undefined })).toMatch(/snapshot/);
    const snap = message({
      type: MessageType.Snapshot,
      from: 'n1',
      to: 'n2',
      group: 1,
      snapshot: {
        meta: { group: 2, index: asLogIndex(1), term: asTerm(1), membership: { members: [] } },
        offset: 0,
        chunk: new Uint8Array(1),
        done: true,
        total: 1,
      },
    });
    expect(validateMessage(snap)).toMatch(/group/);
  });

  it('drops unknown fields and treats nil as absent', () => {
    const result = validateMessage({ ...append, extra: 'x', index: null, logTerm: undefined });
    if (typeof result === 'string') throw new Error(result);
    expect('extra' in result).toBe(false);
    expect('index' in result).toBe(false);
    expect(result.entries).toHaveLength(2);
  });

  it('maps every message type to its RPC, and checks headers against messages', () => {
    expect(Object.values(MessageType).map((t) => methodFor(t))).toEqual([
      'PreVote',
      'Respond',
      'Vote',
      'Respond',
      'Append',
      'Respond',
      'Heartbeat',
      'Respond',
      'InstallSnapshot',
      'Respond',
      'TimeoutNow',
    ]);
    expect(headerMismatch(headerOf(append), append)).toBeNull();
    expect(headerMismatch({ ...headerOf(append), term: 9 }, append)).toMatch(/term/);
    expect(headerMismatch(null, append)).toMatch(/missing/);
  });
});
