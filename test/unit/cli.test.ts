import { describe, expect, it } from 'vitest';
import { main } from '../../src/node/cli.js';

async function run(args: string[]): Promise<{ code: number; err: string }> {
  const errs: string[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (errs.push(String(s)), true)) as typeof process.stderr.write;
  try {
    return { code: await main(['node', 'raftq', ...args]), err: errs.join('') };
  } finally {
    process.stderr.write = orig;
  }
}

describe('raftq CLI', () => {
  it('exits 2 on an unknown command', async () => {
    const r = await run(['no-such-command']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command/);
  });

  it('exits 2 with one line on an unknown flag', async () => {
    const r = await run(['start', '--nope']);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('exits 2 with one line naming the field on bad config', async () => {
    const base = ['start', '--id', 'n4', '--listen', '127.0.0.1:7001', '--peer-listen', '127.0.0.1:7101'];
    const r = await run([...base, '--peers', 'n1=127.0.0.1:7101', '--data-dir', '/tmp/raftq-x']);
    expect(r.code).toBe(2);
    expect(r.err).toBe('raftq: id: "n4" is not among --peers (n1)\n');
    const bad = await run([
      ...base.slice(0, 2),
      'n1',
      '--listen',
      'localhost',
      '--peer-listen',
      '1:2',
      '--peers',
      'n1=1:2',
      '--data-dir',
      '/tmp/y',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^raftq: listen: "localhost" is not an address/);
  });
});
