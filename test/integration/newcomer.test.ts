// A newcomer's path (issue 17), on a fresh cluster: the README's shell walk-through as written,
// then the README's TypeScript example twice in a row. Every step is bounded in time: a step that
// hangs fails the test instead of holding it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RAFTQ_BIN, waitFor, withDeadline } from '../../src/node/local-cluster.js';
import { runExample, tsExamples } from '../unit/examples.js';
import { runRaftq } from './node-helpers.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const started: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'raftq-newcomer-'));
const savedServers = process.env['RAFTQ_SERVERS'];

afterAll(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  if (savedServers === undefined) delete process.env['RAFTQ_SERVERS'];
  else process.env['RAFTQ_SERVERS'] = savedServers;
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, [RAFTQ_BIN, ...args], { env: { ...process.env, ...env }, stdio: 'pipe' });
  started.push(child);
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  return { child, out: () => text };
}

function exited(child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return withDeadline(new Promise((resolve) => child.once('exit', (code) => resolve(code))), ms, 'exit');
}

describe('a newcomer following the README', () => {
  it('runs the shell walk-through, then the TypeScript example twice, each within its time', async () => {
    const walk = /```sh\n(npx raftq dev[\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const commands = walk
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter((l) => l.startsWith('npx raftq '))
      .map((l) => l.slice('npx raftq '.length));
    expect(commands[0]).toBe('dev --nodes 3');

    const dev = start(['dev', '--nodes', '3', '--dir', dir]);
    const servers = await waitFor(() => /RAFTQ_SERVERS=(\S+)/.exec(dev.out())?.[1], 30_000, 'RAFTQ_SERVERS');
    const env = { RAFTQ_SERVERS: servers };
    let taskId = '';
    for (const cmd of commands.slice(1)) {
      // The README's quoting is plain: split on spaces outside single quotes.
      const args = [...cmd.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
      if (args[0] === 'worker') {
        const worker = start(args, env);
        await waitFor(
          async () => {
            const r = await runRaftq(['tasks', 'get', taskId, '--json'], 10_000, env);
            return r.code === 0 && (JSON.parse(r.stdout) as { state: string }).state === 'completed' ? true : undefined;
          },
          30_000,
          `task ${taskId} to complete`,
        );
        worker.child.kill('SIGINT');
        expect(await exited(worker.child, 15_000)).toBe(0);
        continue;
      }
      const r = await runRaftq(args, 20_000, env);
      expect(r.code, `raftq ${cmd}: ${r.stderr}`).toBe(0);
      if (args[0] === 'enqueue') taskId = (JSON.parse(r.stdout) as { id: string }).id;
    }
    expect(taskId).not.toBe('');

    const [example] = tsExamples(readme);
    process.env['RAFTQ_SERVERS'] = servers;
    for (const run of [1, 2]) {
      const logs = await withDeadline(runExample(example ?? ''), 40_000, `README example, run ${run}`);
      expect(logs.flat().join(' ')).toMatch(/: sent$/);
    }

    dev.child.kill('SIGINT');
    expect(await exited(dev.child, 20_000)).toBe(0);
  });
});
