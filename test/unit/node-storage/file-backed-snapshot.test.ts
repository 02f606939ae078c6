// The mirror keeps a durable snapshot's bytes in its file: `data` reads and verifies the file (a
// damaged one is refused), the size is known without reading, and prune keeps a file while a
// file-backed snapshot of it is alive.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileBackedSnapshot, snapshotDataBytes } from '../../../src/node/storage/file-backed-snapshot.js';
import { SnapshotFiles } from '../../../src/node/storage/snapshot-files.js';
import type { Snapshot } from '../../../src/raft/types.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function snap(index: number, bytes: number): Snapshot {
  const data = new Uint8Array(bytes).map((_, i) => (i * 7 + index) & 255);
  const meta = { index: asLogIndex(index), term: asTerm(1), group: 0, membership: { members: [] } };
  return { meta, data } as unknown as Snapshot;
}

async function files(keep = 1): Promise<SnapshotFiles> {
  const dir = mkdtempSync(join(tmpdir(), 'raftq-fbs-'));
  dirs.push(dir);
  return SnapshotFiles.open(dir, { keep });
}

describe('file-backed snapshot', () => {
  it('reads its bytes from the file when not loaded, and knows its size without reading', async () => {
    const f = await files();
    const s = snap(10, 5 * 1024 * 1024 + 3);
    await f.write(s);
    const backed = new FileBackedSnapshot(s.meta, f, s.data.byteLength);
    expect(snapshotDataBytes(backed)).toBe(s.data.byteLength);
    expect(Buffer.from(backed.data).equals(Buffer.from(s.data))).toBe(true);
  });

  it('refuses a damaged file (its checksums are verified on every read)', async () => {
    const f = await files();
    const s = snap(11, 4096);
    await f.write(s);
    const path = f.pathOf(11, 1);
    const bytes = readFileSync(path);
    bytes.writeUInt8((bytes.at(-1) ?? 0) ^ 0xff, bytes.length - 1);
    writeFileSync(path, bytes);
    const backed = new FileBackedSnapshot(s.meta, f, s.data.byteLength);
    expect(() => backed.data).toThrow(/damaged: data checksum/);
  });

  it('prune keeps a file while a file-backed snapshot of it is alive, and deletes it once unpinned', async () => {
    const f = await files(1);
    const a = snap(20, 100);
    await f.write(a);
    const backed = new FileBackedSnapshot(a.meta, f, a.data.byteLength);
    await f.write(snap(30, 100)); // keep 1: the older one would go now
    expect(existsSync(f.pathOf(20, 1))).toBe(true);
    expect(backed.data.byteLength).toBe(100);
    f.unpin(f.pathOf(20, 1)); // what the finalizer does once the object is gone
    await f.prune();
    expect(existsSync(f.pathOf(20, 1))).toBe(false);
  });
});
