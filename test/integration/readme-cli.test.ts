// The README's shell walk-through, run as written: `raftq dev --nodes 3`, then enqueue, a worker with
// --exec, and status against the printed RAFTQ_SERVERS; Ctrl-C (SIGINT) stops the worker and the
// cluster.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RAFTQ_BIN, waitFor } from '../../src/node/local-cluster.js';
import { runRaftq } from './node-helpers.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const started: ChildProcess[] = [];
let dir = '';

afterEach(async () => {
  for (const c of started.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, [RAFTQ_BIN, ...args], { env: { ...process.env, ...env }, stdio: 'pipe' });
  started.push(child);
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  return { child, out: () => text };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('README walk-through', () => {
  it('dev cluster, enqueue, worker --exec, status --json, Ctrl-C', async () => {
    // The commands the README shows, so the test breaks if they change.
    for (const cmd of [
      'raftq dev --nodes 3',
      'raftq enqueue emails',
      "raftq worker emails --exec 'cat'",
      'raftq status --json',
    ]) {
      expect(readme).toContain(cmd);
    }
    dir = mkdtempSync(join(tmpdir(), 'raftq-readme-'));
    const dev = start(['dev', '--nodes', '3', '--dir', dir, '--log-level', 'warn']);
    const servers = await waitFor(
      () => /RAFTQ_SERVERS=(\S+)/.exec(dev.out())?.[1],
      20_000,
      'raftq dev to print RAFTQ_SERVERS',
    );
    const env = { RAFTQ_SERVERS: servers };
    await waitFor(
      async () => {
        const r = await runRaftq(['status', '--json'], 10_000, env);
        return r.code === 0 && (JSON.parse(r.stdout) as { leader: string | null }).leader ? true : undefined;
      },
      30_000,
      'a leader',
    );

    const enq = await runRaftq(['enqueue', 'emails', '{"to":"a@example.org"}', '--json'], 20_000, env);
    expect(enq.code, enq.stderr).toBe(0);
    const { id } = JSON.parse(enq.stdout) as { id: string };
    expect(id).toMatch(/^\d+$/);

    const worker = start(['worker', 'emails', '--exec', 'cat'], env);
    await waitFor(
      async () => {
        const r = await runRaftq(['tasks', 'get', id, '--json'], 10_000, env);
        return r.code === 0 && (JSON.parse(r.stdout) as { state: string }).state === 'completed' ? true : undefined;
      },
      30_000,
      `task ${id} to complete`,
    );
    worker.child.kill('SIGINT');
    expect(await exited(worker.child)).toBe(0);

    const st = await runRaftq(['status', '--json'], 10_000, env);
    const status = JSON.parse(st.stdout) as { leader: string; members: { id: string; role: string }[] };
    expect(status.members.map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(status.members.filter((m) => m.role === 'leader').map((m) => m.id)).toEqual([status.leader]);

    dev.child.kill('SIGINT');
    await exited(dev.child);
    expect(dev.out()).toMatch(/raftq dev: stopping/);
  });
});
