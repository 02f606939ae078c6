// `raftq top` as a real process against a real node (issue #15): it refreshes a bounded number of
// times showing the leader and the queues with counts and rates, and quits on "q".
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { RAFTQ_BIN, withDeadline } from '../../src/node/local-cluster.js';
import { clusterPerFile } from '../support/cluster.js';
import { waitFor } from './helpers.js';

const fx = clusterPerFile(1);

function runTop(args: string[]): {
  out: () => string;
  exited: Promise<number | null>;
  write(s: string): void;
  pid: number;
} {
  const child = spawn(process.execPath, [RAFTQ_BIN, 'top', '--servers', fx.tc.cluster.servers.join(','), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { out: () => out, exited, write: (s) => child.stdin.write(s), pid: child.pid as number };
}

describe('raftq top', () => {
  it('refreshes --iterations times with the leader, the queues, their counts and rates', async () => {
    const client = fx.client();
    const q = client.queue('top-q');
    await q.enqueueMany(Array.from({ length: 5 }, (_, k) => ({ payload: { k } })));
    const top = runTop(['--interval-ms', '200', '--iterations', '3']);
    const code = await withDeadline(top.exited, 20_000, 'raftq top to exit');
    const out = top.out();
    expect(code, out).toBe(0);
    const frames = out.split('raftq top ').slice(1);
    expect(frames).toHaveLength(3);
    for (const f of frames) {
      expect(f).toContain(`leader: ${fx.leader}`);
      expect(f).toMatch(/^top-q\s+5\s+0\s+0\s+0\s/m);
    }
    // Rates need two samples: the first frame has none, the later ones do.
    expect(frames[0]).toMatch(/^top-q(\s+\S+){4}\s+-\s+-\s+-/m);
    expect(frames[2]).toMatch(/^top-q(\s+\S+){4}\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d+s$/m);
  });

  it('quits on q', async () => {
    const top = runTop(['--interval-ms', '200']);
    await waitFor(async () => (top.out().includes('raftq top ') ? true : undefined), 10_000, 'a first frame');
    top.write('q');
    expect(await withDeadline(top.exited, 10_000, 'raftq top to quit on q')).toBe(0);
  });
});
