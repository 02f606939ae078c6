import { readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptionError } from '../../../src/node/storage/errors.js';
import { crc32c } from '../../../src/node/storage/leveldb-log.js';
import { entries, openStore, tempDir } from './helpers.js';

/** A closed data dir whose LevelDB write-ahead log holds 50 acknowledged Readies. */
async function dataDirWithLog(): Promise<{ dir: string; log: string }> {
  const dir = await tempDir();
  const { store } = await openStore(dir);
  await store.recover();
  for (const e of entries(1, 50, 1)) {
    await store.persist({ hardState: { term: 1, vote: 'n1', commit: Math.max(0, e.index - 10) }, entries: [e] });
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

  it('accepts a torn final write (a last record cut short) and recovers everything before it', async () => {
    const { dir, log } = await dataDirWithLog();
    const bytes = await readFile(log);
    await truncate(log, bytes.length - 5);
    const { store } = await openStore(dir);
    const recovered = await store.recover();
    expect(recovered.lastIndex).toBe(49); // the last Ready was "never fsynced"
    expect(recovered.entries).toEqual(entries(1, 49, 1));
  });
});
