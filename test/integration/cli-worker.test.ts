// `raftq worker --exec` as a real process (issue 17): with a task whose payload the CLI cannot show
// as JSON (a BigInt from the SDK) and a command that would never finish, SIGTERM stops the worker
// within its close timeout, and no child is left behind.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { RAFTQ_BIN, withDeadline } from '../../src/node/local-cluster.js';
import { startCluster, waitFor, waitForLeader, type TestCluster } from './helpers.js';

let tc: TestCluster | null = null;
let dir = '';

afterEach(async () => {
  await tc?.cleanup();
  tc = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('raftq worker --exec process', () => {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops within its close timeout on ${sig}, killing its child`, async () => {
      tc = await startCluster(1);
      await waitForLeader(tc.cluster);
      dir = mkdtempSync(join(tmpdir(), 'raftq-cliworker-'));
      const client = new Client({ servers: tc.cluster.servers, timeoutMs: 20_000 });
      await client.queue('stuck').enqueue({ n: 2n ** 60n });
      await client.close();
      const pidFile = join(dir, 'child.pid');
      const worker = spawn(
        process.execPath,
        [
          RAFTQ_BIN,
          'worker',
          'stuck',
          '--exec',
          `echo $$ > ${pidFile}; exec sleep 600`,
          '--close-timeout-ms',
          '1000',
          '--servers',
          tc.cluster.servers.join(','),
        ],
        { stdio: 'ignore' },
      );
      const exited = new Promise<number | null>((r) => worker.once('exit', (code) => r(code)));
      try {
        await waitFor(
          () => (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() ? true : undefined),
          20_000,
          'the child',
        );
        const child = Number(readFileSync(pidFile, 'utf8'));
        expect(alive(child)).toBe(true);
        const at = performance.now();
        worker.kill(sig);
        expect(await withDeadline(exited, 10_000, 'the worker to exit')).toBe(0);
        expect(performance.now() - at).toBeLessThan(8_000);
        expect(alive(child)).toBe(false);
      } finally {
        if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
      }
    });
  }
});
