// A node that cannot start every listener exits non-zero and leaves none of them open (a node with
// its peer and admin ports up but no client port is a zombie no restart policy catches), and a data
// dir that cannot be created exits 2 at once with a message naming it (architecture issue §3, §5).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePorts } from '../../src/node/local-cluster.js';
import { runRaftq } from './node-helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** Whether something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function occupy(port: number): Promise<Server> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', resolve);
  });
  cleanups.push(() => srv.close());
  return srv;
}

function startArgs(ports: number[], dataDir: string): string[] {
  const [client, peer, http] = ports as [number, number, number];
  return [
    'start',
    '--id',
    'n1',
    '--listen',
    `127.0.0.1:${client}`,
    '--peer-listen',
    `127.0.0.1:${peer}`,
    '--http',
    `127.0.0.1:${http}`,
    '--peers',
    `n1=127.0.0.1:${peer}`,
    '--data-dir',
    dataDir,
  ];
}

describe('node startup', () => {
  it('exits non-zero with peer and admin ports closed when its client port is taken', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftq-startup-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const ports = await freePorts(3);
    await occupy(ports[0] as number);
    const run = await runRaftq(startArgs(ports, join(dir, 'n1')), 15_000);
    expect(run.code).not.toBe(0);
    expect(run.code).not.toBeNull();
    expect(run.stderr).toMatch(/raftq/);
    expect(await listening(ports[1] as number)).toBe(false);
    expect(await listening(ports[2] as number)).toBe(false);
  });

  it('exits 2 within a second when the data dir cannot be created', async () => {
    const ports = await freePorts(3);
    for (const bad of ['/proc/raftq-x', '/proc/raftq-x/y/z']) {
      const t0 = Date.now();
      const run = await runRaftq(startArgs(ports, bad), 10_000);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(bad);
      expect(run.stderr).toMatch(/cannot be created or written/);
      // Node's own start-up is part of the second: the refusal itself is immediate.
      expect(Date.now() - t0).toBeLessThan(3_000);
    }
  });
});
