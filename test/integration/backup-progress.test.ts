// `raftq backup --progress` (issue 16): progress lines on stderr, bytes growing to the file's size
// at 100 %; none without --progress when stderr is not a terminal (a pipe here).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitForLeader } from './helpers.js';
import { runRaftq } from './node-helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

describe('backup progress', () => {
  it('prints progress to stderr with --progress, and none into a pipe without it', async () => {
    const tc = await fx.start(1);
    await waitForLeader(tc.cluster);
    const q = fx.client().queue<{ k: string; pad: string }>('bp');
    // About 300 KB of state, so the answer comes in several chunks.
    for (let i = 0; i < 30; i++)
      await q.enqueueMany(
        Array.from({ length: 10 }, (_, j) => ({ payload: { k: `k${i}-${j}`, pad: 'x'.repeat(1000) } })),
      );
    const admin = `127.0.0.1:${tc.cluster.specs[0]!.httpPort}`;

    const out = join(tc.dir, 'p.rqb');
    const r = await runRaftq(['backup', '--out', out, '--admin', admin, '--progress']);
    expect(r.code, r.stderr).toBe(0);
    const size = statSync(out).size;
    expect(size).toBeGreaterThan(300_000);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('raftq: backup: received'));
    expect(lines.at(-1)).toBe(`raftq: backup: received ${size} of ${size} bytes (100%)`);
    const got = lines.map((l) => Number(/received (\d+)/.exec(l)?.[1]));
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(got.every((n) => n > 0 && n <= size)).toBe(true);

    const quiet = await runRaftq(['backup', '--out', join(tc.dir, 'q.rqb'), '--admin', admin]);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toContain('received');
  });
});
