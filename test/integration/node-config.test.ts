// Config validation end to end through the real binary (issue #4): each mistake is one line on
// stderr and exit code 2, never a stack trace, and the process ends on its own.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../src/node/local-cluster.js';
import { DurableStore } from '../../src/node/storage/durable-store.js';
import { runRaftq } from './node-helpers.js';

let dir = '';
let ports: number[] = [];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'raftq-config-'));
  ports = await freePorts(3);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A valid single-node command line, with `patch` replacing or adding flags. */
function startArgs(patch: Record<string, string>, extra: string[] = []): string[] {
  const base: Record<string, string> = {
    '--id': 'n1',
    '--listen': `127.0.0.1:${ports[0]}`,
    '--peer-listen': `127.0.0.1:${ports[1]}`,
    '--http': `127.0.0.1:${ports[2]}`,
    '--peers': `n1=127.0.0.1:${ports[1]}`,
    '--data-dir': join(dir, 'ok'),
    '--cluster-id': 'c-test',
    ...patch,
  };
  return ['start', ...Object.entries(base).flat(), ...extra];
}

function expectOneLineUsageError(run: { code: number | null; stderr: string; stdout: string }, re: RegExp): void {
  const text = run.stderr.trim();
  expect(run.code, `stderr: ${run.stderr}`).toBe(2);
  expect(text.split('\n'), run.stderr).toHaveLength(1);
  expect(text).toMatch(re);
  expect(run.stderr + run.stdout).not.toMatch(/\n\s+at /);
}

describe('raftq start refuses a bad configuration with one line and exit code 2', () => {
  it('an unknown flag', async () => {
    expectOneLineUsageError(await runRaftq(startArgs({}, ['--bogus-flag', '1'])), /unknown option '--bogus-flag'/);
  });

  it('a bad address', async () => {
    expectOneLineUsageError(
      await runRaftq(startArgs({ '--listen': '127.0.0.1:99999' })),
      /listen: port 99999 .* out of range/,
    );
    expectOneLineUsageError(await runRaftq(startArgs({ '--peer-listen': 'no port' })), /peer-listen: "no port" is not/);
  });

  it('a data dir that cannot be created or written', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a directory');
    expectOneLineUsageError(
      await runRaftq(startArgs({ '--data-dir': join(file, 'data') })),
      /data-dir: .*a-file\/data cannot be created or written \(ENOTDIR\)/,
    );
  });

  it('an id absent from --peers', async () => {
    expectOneLineUsageError(await runRaftq(startArgs({ '--id': 'n9' })), /id: "n9" is not among --peers \(n1\)/);
  });

  it('a data dir formatted for another cluster', async () => {
    const other = join(dir, 'other');
    const store = await DurableStore.open(other, { clusterId: 'c-other' });
    await store.close();
    expectOneLineUsageError(
      await runRaftq(startArgs({ '--data-dir': other, '--cluster-id': 'c-mine' })),
      /data-dir: data dir .*other belongs to cluster c-other, not c-mine/,
    );
  });
});
