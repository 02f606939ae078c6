// Rotating the cluster secret without a restart (docs/security.md): every node accepts the new
// secret, then each signs with it in turn, then the old one is dropped — SIGHUP at each step, the
// cluster serving throughout; afterwards a node signing with the old secret is refused.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { httpJson, startCluster, waitFor, waitForLeader, type TestCluster } from './helpers.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
let tc: TestCluster;
let client: Client;
const ids = ['n1', 'n2', 'n3'];
const secrets = mkdtempSync(join(tmpdir(), 'raftq-rot-'));
const secretFile = (id: string): string => join(secrets, `secret-${id}`);
const acceptFile = (id: string): string => join(secrets, `accept-${id}`);
const reloads = (id: string): number =>
  (tc.lines.get(id) ?? []).filter((l) => l.includes('cluster secret reloaded')).length;

async function hup(which: string[]): Promise<void> {
  const before = which.map(reloads);
  for (const id of which) process.kill(tc.cluster.pid(id) as number, 'SIGHUP');
  await waitFor(
    () => (which.every((id, i) => reloads(id) > (before[i] as number)) ? true : undefined),
    10_000,
    'reloads',
  );
}

async function serves(n: number): Promise<void> {
  const q = client.queue('rot');
  await q.enqueue({ n });
  await waitForLeader(tc.cluster, 20_000);
}

async function unauthenticated(id: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${tc.cluster.spec(id).httpPort}/metrics`).then((r) => r.text());
  return Number(/raftq_peer_unauthenticated_total(?:\{[^}]*\})? (\d+)/.exec(text)?.[1] ?? 0);
}

beforeAll(async () => {
  tc = await startCluster(3, {
    perNode: (s) => {
      writeFileSync(secretFile(s.id), A);
      writeFileSync(acceptFile(s.id), A);
      return { args: ['--cluster-secret-file', secretFile(s.id), '--cluster-secret-accept-file', acceptFile(s.id)] };
    },
  });
  await waitForLeader(tc.cluster);
  client = new Client({ servers: tc.cluster.servers, timeoutMs: 10_000 });
  await client.queue('rot').create();
}, 60_000);

afterAll(async () => {
  await client?.close({ timeoutMs: 2_000 }).catch(() => undefined);
  await tc?.cleanup();
  rmSync(secrets, { recursive: true, force: true });
});

describe('cluster secret rotation on SIGHUP', () => {
  it('moves every node from secret A to B with no restart and no outage, then refuses A', async () => {
    for (const id of ids) writeFileSync(acceptFile(id), B);
    await hup(ids);
    await serves(1);
    for (const id of ids) {
      writeFileSync(secretFile(id), B);
      writeFileSync(acceptFile(id), A);
      await hup([id]);
      await serves(2);
    }
    for (const id of ids) writeFileSync(acceptFile(id), B);
    await hup(ids);
    await serves(3);
    expect(tc.exits).toEqual([]);
    const pids = ids.map((id) => tc.cluster.pid(id));

    // n3 goes back to the old secret: its peers now refuse what it sends.
    const leader = await waitForLeader(tc.cluster);
    const other = ids.find((id) => id !== leader) as string;
    const before = await unauthenticated(leader);
    writeFileSync(secretFile(other), A);
    writeFileSync(acceptFile(other), A);
    await hup([other]);
    await waitFor(async () => ((await unauthenticated(leader)) > before ? true : undefined), 15_000, 'refusals');
    expect(ids.map((id) => tc.cluster.pid(id))).toEqual(pids);
    const st = await httpJson<{ role: string }>(tc.cluster.spec(leader).httpPort, '/status');
    expect(st.role).toBe('leader');
  }, 120_000);
});
