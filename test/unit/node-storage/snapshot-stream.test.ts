// A local snapshot streamed to its file as its chunks are taken (snapshot-stream.ts): the file holds
// every chunk in order, it is recorded as the snapshot only once whole and durable, a crash before
// that leaves nothing recorded, and the mirror does not keep the bytes in memory.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { StoreFailedError } from '../../../src/node/storage/errors.js';
import { NodeStorage } from '../../../src/node/storage/node-storage.js';
import { StreamedSnapshot, type FileWriter } from '../../../src/node/storage/snapshot-stream.js';
import { entries, membership, snapshotMeta, tempDir } from './helpers.js';

const chunk = (k: number, bytes: number): Uint8Array =>
  Uint8Array.from({ length: bytes }, (_, i) => (i * 13 + k) & 255);

async function open(dir: string): Promise<NodeStorage> {
  return NodeStorage.open(dir, { clusterId: 'c1', initialMembership: membership });
}

async function withLog(dir: string): Promise<NodeStorage> {
  const storage = await open(dir);
  const hardState = { term: asTerm(2), vote: 'n1', commit: asLogIndex(20) };
  await storage.persistReady({ hardState, entries: entries(1, 20, 2), snapshot: null });
  return storage;
}

/**
 * A writer whose appends complete only when the test lets them, recording the order of its steps;
 * `seal` records when the meta would be recorded. What the stream must guarantee is checked by
 * `orderViolations`: every append done before the data fsync, the fsync before the commit, and the
 * meta recorded only after the commit.
 */
function gatedStream(plantCommitEarly: boolean) {
  const steps: string[] = [];
  const gates: (() => void)[] = [];
  const writer: FileWriter = {
    append: (c) =>
      new Promise<void>((resolve) => {
        gates.push(() => {
          steps.push(`append ${c[0]}`);
          resolve();
        });
      }),
    syncData: async () => void steps.push('syncData'),
    commit: async () => {
      steps.push('commit');
      return { index: 10, term: 2, path: '10-2.snap' };
    },
    abort: async () => void steps.push('abort'),
  };
  const stream = new StreamedSnapshot({
    files: { begin: async () => writer },
    meta: snapshotMeta(10, 2),
    plantCommitEarly,
    failed: (e) => new StoreFailedError(e),
    seal: async (commitFile, bytes) => {
      await commitFile();
      steps.push(`seal ${bytes}`);
    },
  });
  const release = async (): Promise<void> => {
    for (let turn = 0; turn < 100; turn++) {
      gates.splice(0).forEach((g) => g());
      await new Promise((r) => setImmediate(r));
    }
  };
  return { stream, steps, release };
}

function orderViolations(steps: readonly string[], appends: number): string[] {
  const out: string[] = [];
  const at = (s: string): number => steps.indexOf(s);
  for (let k = 0; k < appends; k++) {
    if (at(`append ${k}`) < 0) out.push(`chunk ${k} never written`);
    else if (at(`append ${k}`) > at('syncData')) out.push(`chunk ${k} written after the data fsync`);
  }
  if (at('syncData') < 0 || at('commit') < at('syncData')) out.push('commit before the data fsync');
  const seal = steps.findIndex((s) => s.startsWith('seal'));
  if (seal < 0 || seal < at('commit')) out.push('meta recorded before the file was committed');
  return out;
}

describe('node-storage - streamed snapshot', () => {
  it('writes every chunk before the data fsync, commits, and only then records the meta', async () => {
    const { stream, steps, release } = gatedStream(false);
    for (let k = 0; k < 5; k++) stream.write(Uint8Array.of(k, 0, 0));
    expect(stream.pendingBytes).toBe(15);
    const done = stream.commit({});
    await release();
    await done;
    expect(orderViolations(steps, 5)).toEqual([]);
    expect(steps.at(-1)).toBe('seal 15');
    expect(stream.pendingBytes).toBe(0);
  });

  it('planted: a commit that does not wait for the queued writes is caught by the same check', async () => {
    const { stream, steps, release } = gatedStream(true);
    for (let k = 0; k < 5; k++) stream.write(Uint8Array.of(k, 0, 0));
    const done = stream.commit({});
    await release();
    await done;
    expect(orderViolations(steps, 5)).not.toEqual([]);
  });

  it('a failed write fails the commit (the node stops) and drops the temporary file', async () => {
    const steps: string[] = [];
    const stream = new StreamedSnapshot({
      files: {
        begin: async () => ({
          append: async () => {
            throw new Error('EIO: injected write failure');
          },
          syncData: async () => void steps.push('syncData'),
          commit: async () => {
            steps.push('commit');
            return { index: 10, term: 2, path: '' };
          },
          abort: async () => void steps.push('abort'),
        }),
      },
      meta: snapshotMeta(10, 2),
      failed: (e) => new StoreFailedError(e),
      seal: async () => void steps.push('seal'),
    });
    stream.write(Uint8Array.of(1));
    await stream.drained();
    await expect(stream.commit({})).rejects.toThrow(/storage failed: EIO: injected write failure/);
    expect(steps).toEqual(['abort']);
  });

  it('on disk: the file holds every chunk, is recorded, the log compacted, and the mirror keeps no bytes', async () => {
    const dir = await tempDir();
    const storage = await withLog(dir);
    const sink = storage.beginSnapshot(snapshotMeta(15, 2));
    const parts = Array.from({ length: 40 }, (_, k) => chunk(k, 50_000 + k));
    for (const p of parts) sink.write(p); // not awaited: they queue behind one another
    await sink.commit({ compactTo: asLogIndex(12) });
    const whole = Buffer.concat(parts);
    const mirrored = storage.mirror.snapshot();
    expect(mirrored?.meta.index).toBe(15);
    expect((mirrored as unknown as { bytes: unknown }).bytes).toBeNull(); // read from the file when asked
    expect(Buffer.from(mirrored?.data ?? []).equals(whole)).toBe(true);
    expect(storage.mirror.firstIndex()).toBe(13);
    expect(await readdir(join(dir, 'snapshots'))).toEqual(['15-2.snap']);
    await storage.close();

    const reopened = await open(dir);
    expect(reopened.mirror.snapshot()?.meta.index).toBe(15);
    expect(Buffer.from(reopened.mirror.snapshot()?.data ?? []).equals(whole)).toBe(true);
    await reopened.close();
  });

  it('on disk: a crash before commit records nothing, and the next open removes the temporary file', async () => {
    const dir = await tempDir();
    const storage = await withLog(dir);
    const sink = storage.beginSnapshot(snapshotMeta(15, 2));
    sink.write(chunk(1, 1000));
    await sink.drained();
    // The process dies here: no commit.
    await storage.close();
    const reopened = await NodeStorage.open(dir, { clusterId: 'c1', initialMembership: membership });
    expect(reopened.snapshots.removedTemporaries).toEqual(['15-2.local.tmp']);
    expect(reopened.mirror.snapshot()).toBeNull();
    expect(reopened.mirror.firstIndex()).toBe(1);
    await reopened.close();
  });

  it('on disk: an abandoned snapshot (a leader snapshot replaced the state) leaves no file', async () => {
    const dir = await tempDir();
    const storage = await withLog(dir);
    const sink = storage.beginSnapshot(snapshotMeta(15, 2));
    sink.write(chunk(1, 1000));
    sink.abort();
    await sink.drained();
    await expect(sink.commit({})).rejects.toThrow(/abandoned/);
    expect(await readdir(join(dir, 'snapshots'))).toEqual([]);
    await storage.close();
  });
});
