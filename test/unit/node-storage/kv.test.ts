import { describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { LevelKv, type KvOp } from '../../../src/node/storage/kv.js';
import { tempDir } from './helpers.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b);

async function openKv(): Promise<LevelKv> {
  return LevelKv.open(join(await tempDir(), 'db'), { createIfMissing: true });
}

describe('node-storage - LevelKv batches', () => {
  it('writes puts and deletes atomically and in order, with the sync option passed to LevelDB', async () => {
    const kv = await openKv();
    const inner = (kv as unknown as { db: { _batch: (...a: unknown[]) => Promise<void> } }).db;
    const spy = vi.spyOn(inner, '_batch');
    await kv.batch(
      [
        { type: 'put', key: bytes('a'), value: bytes('1') },
        { type: 'put', key: bytes('b'), value: bytes('2') },
      ],
      { sync: true },
    );
    await kv.batch(
      [
        { type: 'del', key: bytes('a') },
        { type: 'put', key: bytes('b'), value: bytes('3') },
      ],
      { sync: false },
    );
    expect(spy.mock.calls.map((c) => c[1])).toEqual([{ sync: true }, { sync: false }]);
    expect(text(await kv.get(bytes('a')))).toBeUndefined();
    expect(text(await kv.get(bytes('b')))).toBe('3');
    await kv.close();
  });

  it('refuses a batch with a malformed operation and writes none of it (LevelDB would skip it silently)', async () => {
    const kv = await openKv();
    const bad = [
      { type: 'put', key: bytes('x'), value: bytes('1') },
      { type: 'put', key: bytes('y') },
    ] as unknown as KvOp[];
    expect(() => kv.batch(bad, { sync: true })).toThrow(/a put without a byte value/);
    const noKey = [{ type: 'del', key: 'z' }] as unknown as KvOp[];
    expect(() => kv.batch(noKey, { sync: true })).toThrow(/without a byte key/);
    expect(await kv.get(bytes('x'))).toBeUndefined();
    await kv.close();
  });

  it('refuses a write after close with LevelDB typed error, not a crash', async () => {
    const kv = await openKv();
    await kv.close();
    await expect(kv.batch([{ type: 'put', key: bytes('a'), value: bytes('1') }], { sync: true })).rejects.toMatchObject(
      {
        code: 'LEVEL_DATABASE_NOT_OPEN',
      },
    );
  });
});
