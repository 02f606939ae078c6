import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { cp, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../../src/node/storage/errors.js';
import { crc32c } from '../../../src/node/storage/leveldb-log.js';
import type { DurableStoreOptions } from '../../../src/node/storage/durable-store.js';
import { entries, openStore, tempDir } from './helpers.js';

/** The store's path for large batches: each promise written after its batch, carrying none. */
const AFTER: DurableStoreOptions = { besideBytesMax: 0 };

/** A closed data dir whose LevelDB write-ahead log holds 50 acknowledged Readies. */
async function dataDirWithLog(options: DurableStoreOptions = {}): Promise<{ dir: string; log: string }> {
  const dir = await tempDir();
  const { store } = await openStore(dir, options);
  await store.recover();
  for (const e of entries(1, 50, 1)) {
    await store.persist({
      hardState: { term: asTerm(1), vote: 'n1', commit: asLogIndex(Math.max(0, e.index - 10)) },
      entries: [e],
    });
  }
  await store.close();
  const name = (await readdir(join(dir, 'db'))).find((n) => n.endsWith('.log'));
  if (name === undefined) throw new Error('no LevelDB log file');
  return { dir, log: join(dir, 'db', name) };
}

describe('node-storage - LevelDB write-ahead log check', () => {
  it('computes CRC-32C', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  it('refuses a data dir whose LevelDB log has a flipped bit, instead of silently rolling back', async () => {
    const { dir, log } = await dataDirWithLog();
    const bytes = await readFile(log);
    bytes[Math.floor(bytes.length * 0.6)]! ^= 0x04;
    await writeFile(log, bytes);
    const error = await openStore(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as Error).message).toMatch(/LevelDB file \d+\.log .* is damaged at byte \d+ \(checksum mismatch\)/);
  });

  it('a synced last record cut off: recovers what is left, one term up and in recovery (docs/faults.md P11)', async () => {
    const { dir, log } = await dataDirWithLog(AFTER);
    const bytes = await readFile(log);
    await truncate(log, bytes.length - 5);
    const { store } = await openStore(dir, AFTER);
    const recovered = await store.recover();
    expect(recovered.lastIndex).toBe(49); // LevelDB dropped the last batch as if torn
    expect(recovered.entries).toEqual(entries(1, 49, 1));
    // ...but the promise file saw that batch durable: the node may have acknowledged entry 50.
    expect(recovered.lost).toMatchObject({ floor: { index: 50, term: 1 }, fromTerm: 1, toTerm: 2 });
    expect(recovered.lost?.reason).toMatch(
      /LevelDB lost synced writes: its newest batch is \d+, the promise file's \d+/,
    );
    expect(recovered.hardState).toEqual({ term: 2, vote: null, commit: 39, recovery: { index: 50, term: 1 } });
    await store.close();
    // The recovery state is durable: a restart before catching up is still in recovery.
    const { store: again } = await openStore(dir, AFTER);
    const second = await again.recover();
    expect(second.lost).toBeNull();
    expect(second.hardState).toEqual({ term: 2, vote: null, commit: 39, recovery: { index: 50, term: 1 } });
  });

  it('a second loss, of the record that started recovery, keeps the first floor (jepsen disk seed 104)', async () => {
    const { dir, log } = await dataDirWithLog(AFTER);
    await truncate(log, (await readFile(log)).length - 5);
    const { store } = await openStore(dir, AFTER);
    expect((await store.recover()).hardState.recovery).toEqual({ index: 50, term: 1 });
    await store.close();
    // The newest log now holds just the recovery's own write: cut it too.
    const logs = (await readdir(join(dir, 'db'))).filter((n) => n.endsWith('.log')).sort();
    const newest = join(dir, 'db', logs[logs.length - 1] ?? '');
    await truncate(newest, (await readFile(newest)).length - 5);
    const { store: again } = await openStore(dir, AFTER);
    const second = await again.recover();
    expect(second.lost).not.toBeNull();
    // The floor still covers entry 50: the node may not vote for a log without it.
    expect(second.hardState.recovery?.index).toBeGreaterThanOrEqual(50);
    expect(second.hardState.term).toBe(3);
  });

  it('a crash between a batch and its promise: the restart records the promise before acting on it', async () => {
    const { dir } = await dataDirWithLog();
    const promise = join(dir, 'promise');
    const before = await readFile(promise);
    await cp(join(dir, 'db'), join(dir, 'db-50'), { recursive: true });
    const { store } = await openStore(dir);
    await store.recover();
    await store.persist({
      hardState: { term: asTerm(1), vote: 'n1', commit: asLogIndex(41) },
      entries: entries(51, 51, 1),
    });
    await store.close();
    await writeFile(promise, before); // the promise of batch 51 never made it
    const { store: restarted } = await openStore(dir);
    expect((await restarted.recover()).lastIndex).toBe(51); // the node will now report entry 51
    await restarted.close();
    // ... so a disk that later loses batch 51 must be noticed.
    await rm(join(dir, 'db'), { recursive: true });
    await rename(join(dir, 'db-50'), join(dir, 'db'));
    const { store: again } = await openStore(dir);
    const recovered = await again.recover();
    expect(recovered.lastIndex).toBe(50);
    expect(recovered.lost?.floor).toEqual({ index: 51, term: 1 });
  });

  it('a torn write that was never acknowledged (its promise never written) is dropped quietly', async () => {
    const { dir } = await dataDirWithLog();
    const promise = join(dir, 'promise');
    // Power fails after LevelDB's write of batch 51 but before its promise: put back the file as it
    // was before that batch, then tear the batch.
    const before = await readFile(promise);
    const { store } = await openStore(dir);
    await store.recover();
    await store.persist({
      hardState: { term: asTerm(1), vote: 'n1', commit: asLogIndex(41) },
      entries: entries(51, 51, 1),
    });
    await store.close();
    await writeFile(promise, before);
    const logs = (await readdir(join(dir, 'db'))).filter((n) => n.endsWith('.log')).sort();
    const newest = join(dir, 'db', logs[logs.length - 1] ?? '');
    await truncate(newest, (await readFile(newest)).length - 5);
    const { store: again } = await openStore(dir);
    const recovered = await again.recover();
    expect(recovered.lastIndex).toBe(50);
    expect(recovered.lost).toBeNull();
    expect(recovered.hardState).toEqual({ term: 1, vote: 'n1', commit: 40 });
  });
  it('the last batch, carried by its promise (written beside it), is replayed when LevelDB lost it', async () => {
    const { dir, log } = await dataDirWithLog();
    await truncate(log, (await readFile(log)).length - 5);
    const { store } = await openStore(dir);
    const recovered = await store.recover();
    // Torn or lost, batch 50 is in the promise file: nothing is lost and no recovery is needed.
    expect(recovered.lost).toBeNull();
    expect(recovered.lastIndex).toBe(50);
    expect(recovered.entries).toEqual(entries(1, 50, 1));
    expect(recovered.hardState).toEqual({ term: 1, vote: 'n1', commit: 40 });
    await store.close();
    const { store: again } = await openStore(dir);
    expect((await again.recover()).lastIndex).toBe(50); // replayed durably
  });

  it('LevelDB behind by more than the carried batch is a loss, detected as before', async () => {
    const { dir, log } = await dataDirWithLog();
    // A cut through several batches: the carried one (50) is not the only one gone.
    await truncate(log, Math.floor((await readFile(log)).length * 0.9));
    const { store } = await openStore(dir);
    const recovered = await store.recover();
    expect(recovered.lastIndex).toBeLessThan(49);
    expect(recovered.lost).toMatchObject({ floor: { index: 50, term: 1 }, fromTerm: 1, toTerm: 2 });
  });
});
