// `raftq dev` for a newcomer (issue 17): restartable on the same folder (same cluster id, same
// addresses), a non-zero exit when it cannot start, human-readable logs with the RAFTQ_SERVERS
// line last, and no node left behind however it ends — even SIGKILLed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RAFTQ_BIN, waitFor } from '../../src/node/local-cluster.js';
import { runRaftq } from './node-helpers.js';

const started: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function start(args: string[]): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn(process.execPath, [RAFTQ_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { child, out: () => out, err: () => err };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Running (a zombie waiting to be reaped is not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'raftq-devtest-'));
  dirs.push(d);
  return d;
}

async function devUp(dir: string): Promise<{ child: ChildProcess; out: () => string; servers: string; pid: number }> {
  const dev = start(['dev', '--nodes', '1', '--dir', dir]);
  const servers = await waitFor(() => /RAFTQ_SERVERS=(\S+)/.exec(dev.out())?.[1], 30_000, 'RAFTQ_SERVERS');
  const pid = Number(/n1 \(pid (\d+)\)/.exec(dev.out())?.[1]);
  return { ...dev, servers, pid };
}

describe('raftq dev', () => {
  it('prints readable logs then RAFTQ_SERVERS, stops its node on SIGTERM, restarts on the same folder', async () => {
    const dir = tempDir();
    const first = await devUp(dir);
    const lines = first.out().split('\n');
    const bannerAt = lines.findIndex((l) => l.startsWith('raftq dev: cluster'));
    const serversAt = lines.findIndex((l) => l.includes('RAFTQ_SERVERS='));
    // Startup logs come before the banner, formatted for people; the banner ends with the servers.
    expect(lines.slice(0, bannerAt).some((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO +n1 /.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith('{'))).toBe(false);
    expect(serversAt).toBe(bannerAt + 2);
    const clusterId = /cluster (\S+),/.exec(first.out())?.[1];
    expect(alive(first.pid)).toBe(true);
    first.child.kill('SIGTERM');
    expect(await exited(first.child)).toBe(0);
    expect(alive(first.pid)).toBe(false);

    const again = await devUp(dir);
    expect(again.servers).toBe(first.servers);
    expect(/cluster (\S+),/.exec(again.out())?.[1]).toBe(clusterId);
    const enq = await runRaftq(['enqueue', 'q', '1', '--json'], 20_000, { RAFTQ_SERVERS: again.servers });
    expect(enq.code, enq.stderr).toBe(0);
    // SIGKILLed, it cannot stop its node: the node notices and exits by itself.
    again.child.kill('SIGKILL');
    await waitFor(() => (alive(again.pid) ? undefined : true), 20_000, 'the orphaned node to exit');
  });

  it('exits non-zero, without a banner, when the cluster cannot start', async () => {
    const dir = tempDir();
    const first = await devUp(dir);
    first.child.kill('SIGINT');
    expect(await exited(first.child)).toBe(0);
    // Another cluster id for the same data: the node refuses it.
    const file = join(dir, 'raftq-dev.json');
    const state = JSON.parse(readFileSync(file, 'utf8')) as { clusterId: string };
    writeFileSync(file, JSON.stringify({ ...state, clusterId: 'c-someone-else' }));
    const bad = start(['dev', '--nodes', '1', '--dir', dir]);
    expect(await exited(bad.child)).toBe(1);
    expect(bad.err()).toMatch(/raftq dev: cannot start: n1 exited/);
    expect(bad.out()).not.toMatch(/RAFTQ_SERVERS=/);
  });
});

describe('raftq demo', () => {
  it('stops its nodes when its stdout closes early (raftq demo | head)', async () => {
    const demo = start(['demo']);
    const pids = await waitFor(
      () => {
        const found = [...demo.out().matchAll(/n\d {2}pid (\d+)/g)].map((m) => Number(m[1]));
        return found.length === 3 && /leader elected/.test(demo.out()) ? found : undefined;
      },
      30_000,
      'the demo to start its nodes',
    );
    const dataDir = /data in (\S+)\)/.exec(demo.out())?.[1] ?? '';
    demo.child.stdout?.destroy();
    expect(await exited(demo.child)).not.toBe(0);
    await waitFor(() => (pids.every((p) => !alive(p)) ? true : undefined), 15_000, 'the demo nodes to exit');
    expect(dataDir).not.toBe('');
    await waitFor(() => (existsSync(dataDir) ? undefined : true), 5_000, 'the demo folder to be removed');
  });

  it('stops its nodes on SIGHUP', async () => {
    const demo = start(['demo']);
    const pids = await waitFor(
      () => {
        const found = [...demo.out().matchAll(/n\d {2}pid (\d+)/g)].map((m) => Number(m[1]));
        return found.length === 3 ? found : undefined;
      },
      30_000,
      'the demo to start its nodes',
    );
    demo.child.kill('SIGHUP');
    await exited(demo.child);
    await waitFor(() => (pids.every((p) => !alive(p)) ? true : undefined), 15_000, 'the demo nodes to exit');
  });
});
