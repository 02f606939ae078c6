import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { constants } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../../src/node/storage/errors.js';
import { PromiseFile, decodeSlot, encodeSlot } from '../../../src/node/storage/promise-file.js';
import { tempDir } from './helpers.js';

const SLOT = 4096;

describe('node-storage - promise file', () => {
  // A write is its own fsync (no datasync follows it): the descriptor must carry O_DSYNC, or a power
  // loss could keep LevelDB's batch and lose the record promising it (or the other way round).
  it.runIf(process.platform === 'linux')('writes through a descriptor opened with O_DSYNC', async () => {
    const dir = await tempDir();
    const f = await PromiseFile.open(dir);
    const info = await readFile(`/proc/self/fdinfo/${f.fd}`, 'utf8');
    const flags = parseInt(/^flags:\s*([0-7]+)/m.exec(info)?.[1] ?? '0', 8);
    expect(flags & constants.O_DSYNC).toBe(constants.O_DSYNC);
    expect(flags & 3).toBe(constants.O_RDWR); // the access mode bits (O_ACCMODE)
    await f.close();
  });

  it('round-trips records, alternating slots, and reopens at the newest', async () => {
    const dir = await tempDir();
    const f = await PromiseFile.open(dir);
    expect(f.current).toEqual({ seq: 0, groups: [] });
    await f.write({ seq: 1, groups: [[0, { term: 1, vote: 'n1', lastIndex: 3, lastTerm: 1 }]] });
    await f.write({
      seq: 2,
      groups: [
        [0, { term: 2, vote: null, lastIndex: 5, lastTerm: 2, recovery: { index: asLogIndex(4), term: asTerm(1) } }],
      ],
    });
    await f.close();
    const again = await PromiseFile.open(dir);
    expect(again.current).toEqual({
      seq: 2,
      groups: [[0, { term: 2, vote: null, lastIndex: 5, lastTerm: 2, recovery: { index: 4, term: 1 } }]],
    });
    await again.close();
  });

  // Each slot's buffer is reused: a short record written over a longer one must leave exactly the
  // bytes a fresh slot would (no tail of the older record), and the newest wins on reopen.
  it('a reused slot holds exactly a fresh encoding of its newest record', async () => {
    const dir = await tempDir();
    const f = await PromiseFile.open(dir);
    const long = {
      seq: 1,
      groups: Array.from({ length: 40 }, (_, g) => [g, { term: 9, vote: `node-${g}`, lastIndex: 1e9, lastTerm: 9 }]),
    } as Parameters<PromiseFile['write']>[0];
    await f.write(long); // slot 1
    await f.write({ seq: 2, groups: [] }); // slot 0
    const short = { seq: 3, groups: [[0, { term: 1, vote: null, lastIndex: 2, lastTerm: 1 }]] } as typeof long;
    await f.write(short); // slot 1 again, over the long record
    await f.close();
    const bytes = await readFile(join(dir, 'promise'));
    expect(bytes.subarray(SLOT, 2 * SLOT).equals(encodeSlot(short))).toBe(true);
    const again = await PromiseFile.open(dir);
    expect(again.current).toEqual(short);
    await again.close();
  });

  it('refuses a second write while one is in flight (the store never overlaps them)', async () => {
    const dir = await tempDir();
    const f = await PromiseFile.open(dir);
    const first = f.write({ seq: 1, groups: [] });
    await expect(f.write({ seq: 2, groups: [] })).rejects.toThrow(/in flight/);
    await first;
    await f.write({ seq: 3, groups: [] });
    await f.close();
    const again = await PromiseFile.open(dir);
    expect(again.current.seq).toBe(3);
    await again.close();
  });

  it('a torn slot falls back to the other one; both damaged is corruption, never a guess', async () => {
    const dir = await tempDir();
    const f = await PromiseFile.open(dir);
    await f.write({ seq: 7, groups: [[0, { term: 3, vote: 'n2', lastIndex: 9, lastTerm: 3 }]] }); // slot 1
    await f.write({ seq: 8, groups: [[0, { term: 3, vote: 'n2', lastIndex: 10, lastTerm: 3 }]] }); // slot 0
    await f.close();
    const path = join(dir, 'promise');
    const bytes = await readFile(path);
    bytes[20]! ^= 0xff; // tear the newer slot (0)
    await writeFile(path, bytes);
    const g = await PromiseFile.open(dir);
    expect(g.current.seq).toBe(7);
    await g.close();
    bytes[SLOT + 20]! ^= 0xff;
    await writeFile(path, bytes);
    const error = await PromiseFile.open(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as Error).message).toMatch(/promise file .* is damaged in both slots/);
  });

  it('decodes only well-formed slots', () => {
    const slot = encodeSlot({ seq: 3, groups: [[0, { term: 1, vote: null, lastIndex: 2, lastTerm: 1 }]] });
    expect(decodeSlot(slot)).toEqual({ seq: 3, groups: [[0, { term: 1, vote: null, lastIndex: 2, lastTerm: 1 }]] });
    expect(decodeSlot(slot.subarray(0, 8))).toBeNull();
    expect(decodeSlot(new Uint8Array(SLOT))).toBeNull();
    const bad = encodeSlot({ seq: -1, groups: [] } as never);
    expect(decodeSlot(bad)).toBeNull();
  });
  it('carries a batch: round-trips its puts and deletes, refuses one that does not fit, and a malformed one is damage', async () => {
    const dir = await tempDir();
    const f = await PromiseFile.open(dir);
    const groups: [number, { term: number; vote: null; lastIndex: number; lastTerm: number }][] = [
      [0, { term: 1, vote: null, lastIndex: 2, lastTerm: 1 }],
    ];
    const batch: [Uint8Array, Uint8Array | null][] = [
      [Uint8Array.of(1, 2), Uint8Array.of(3)],
      [Uint8Array.of(4), null],
    ];
    await f.tryWrite({ seq: 5, groups, batch });
    expect(f.tryWrite({ seq: 6, groups, batch: [[Uint8Array.of(9), new Uint8Array(SLOT)]] })).toBeNull();
    await f.close();
    const again = await PromiseFile.open(dir);
    expect(again.current.seq).toBe(5); // the refused record wrote nothing
    expect(again.current.batch?.map(([k, v]) => [[...k], v === null ? null : [...v]])).toEqual([
      [[1, 2], [3]],
      [[4], null],
    ]);
    await again.close();
    expect(decodeSlot(encodeSlot({ seq: 7, groups: [], batch: [[Uint8Array.of(1), 5]] } as never))).toBeNull();
    expect(decodeSlot(encodeSlot({ seq: 7, groups: [], batch: [['k', null]] } as never))).toBeNull();
  });
});
