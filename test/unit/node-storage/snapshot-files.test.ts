import { readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../../src/node/storage/errors.js';
import { SnapshotFiles } from '../../../src/node/storage/snapshot-files.js';
import { snapshotMeta, tempDir } from './helpers.js';

const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('node-storage - snapshot files', () => {
  it('writes a snapshot in chunks and loads it back with its meta', async () => {
    const dir = await tempDir();
    const files = await SnapshotFiles.open(dir);
    const writer = await files.begin(snapshotMeta(40, 3));
    const [a, b] = [bytes(1000, 1), bytes(777, 2)];
    await writer.append(a);
    await writer.append(b);
    const info = await writer.commit();
    expect(info).toEqual({ index: 40, term: 3, path: join(dir, 'snapshots', '40-3.snap') });
    const loaded = await files.load(40, 3);
    expect(loaded.meta).toEqual(snapshotMeta(40, 3));
    expect(loaded.data).toEqual(Uint8Array.from([...a, ...b]));
  });

  it('never exposes an unfinished snapshot, and removes its temporary file on the next open', async () => {
    const dir = await tempDir();
    const files = await SnapshotFiles.open(dir);
    await files.write({ meta: snapshotMeta(10, 1), data: bytes(100, 3) });
    const writer = await files.begin(snapshotMeta(20, 2));
    await writer.append(bytes(500, 4));
    // A crash here: the process dies with 20-2.tmp on disk and no 20-2.snap.
    expect((await files.list()).map((f) => f.index)).toEqual([10]);
    await expect(files.load(20, 2)).rejects.toBeInstanceOf(CorruptionError);

    const reopened = await SnapshotFiles.open(dir);
    expect(reopened.removedTemporaries).toEqual(['20-2.tmp']);
    expect(await readdir(join(dir, 'snapshots'))).toEqual(['10-1.snap']);
    expect((await reopened.load(10, 1)).data).toEqual(bytes(100, 3));
    await writer.abort();
  });

  it('detects a flipped bit, a truncated file and a file renamed to another snapshot', async () => {
    const dir = await tempDir();
    const files = await SnapshotFiles.open(dir, { keep: 5 });
    const { path } = await files.write({ meta: snapshotMeta(7, 1), data: bytes(4096, 5) });
    const good = await readFile(path);

    const flipped = Uint8Array.from(good);
    flipped[flipped.length - 100]! ^= 0x10;
    await writeFile(path, flipped);
    await expect(files.load(7, 1)).rejects.toThrow(/data checksum/);

    const metaFlipped = Uint8Array.from(good);
    metaFlipped[30]! ^= 0x01;
    await writeFile(path, metaFlipped);
    await expect(files.load(7, 1)).rejects.toThrow(/header checksum/);

    await writeFile(path, good);
    await truncate(path, good.length - 1);
    await expect(files.load(7, 1)).rejects.toThrow(/length/);

    await writeFile(join(dir, 'snapshots', '8-1.snap'), good);
    await expect(files.load(8, 1)).rejects.toThrow(/holds 7-1/);
  });

  it('keeps only the newest two snapshots', async () => {
    const dir = await tempDir();
    const files = await SnapshotFiles.open(dir);
    for (const [index, term] of [
      [5, 1],
      [9, 1],
      [12, 2],
      [30, 2],
    ] as const) {
      await files.write({ meta: snapshotMeta(index, term), data: bytes(10, index) });
    }
    expect((await files.list()).map((f) => `${f.index}-${f.term}`)).toEqual(['12-2', '30-2']);
  });
});
