import { describe, expect, it } from 'vitest';
import { main } from '../../src/node/cli.js';

describe('raftq CLI', () => {
  it('exits 2 on an unknown command', async () => {
    const errs: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (errs.push(String(s)), true)) as typeof process.stderr.write;
    try {
      expect(await main(['node', 'raftq', 'no-such-command'])).toBe(2);
    } finally {
      process.stderr.write = orig;
    }
    expect(errs.join('')).toMatch(/unknown command/);
  });
});
