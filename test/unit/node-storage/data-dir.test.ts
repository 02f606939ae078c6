// makeDataDir: creates missing parents one at a time, and refuses any dir it cannot create or write
// with a ConfigError naming the dir and the cause — at once, also under /proc, where Node's recursive
// mkdir never returns.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/node/config.js';
import { makeDataDir } from '../../../src/node/storage/data-dir.js';
import { tempDir } from './helpers.js';

function refusal(dir: string): ConfigError {
  try {
    makeDataDir(dir);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`${dir} was accepted`);
}

describe('makeDataDir', () => {
  it('creates missing parents and accepts an existing dir', async () => {
    const dir = join(await tempDir(), 'a', 'b', 'c');
    makeDataDir(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
    makeDataDir(dir);
  });

  it('refuses a path through a file (ENOTDIR) and creates nothing', async () => {
    const file = join(await tempDir(), 'f');
    writeFileSync(file, 'x');
    const err = refusal(join(file, 'data', 'more'));
    expect(err.field).toBe('data-dir');
    expect(err.message).toContain('ENOTDIR');
  });

  it('refuses /proc paths at once', () => {
    for (const dir of ['/proc/raftq-x', '/proc/raftq-x/y/z']) {
      expect(refusal(dir).message).toMatch(/cannot be created or written/);
      expect(existsSync(dir)).toBe(false);
    }
  });
});
