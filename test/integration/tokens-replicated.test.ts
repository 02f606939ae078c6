// Replicated client tokens on a 3-node cluster (issue #14): `raftq tokens add` puts a token's hash
// and grants in the log (no restart), every node accepts it; the token never reaches a data
// directory or a log line (only its id); it survives a leader kill, a restart and a snapshot;
// `raftq tokens revoke` makes every node refuse it once each has applied the revocation's index.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { RAFTQ_BIN } from '../../src/node/local-cluster.js';
import type { NodeStatus } from '../../src/rpc/executor.js';
import { startCluster, waitFor, type TestCluster } from './helpers.js';

interface Made {
  token: string;
  entry: { id: string; hash: string; roles: string[] };
}

function raftq(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [RAFTQ_BIN, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (e, out, err) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });
}

let tc: TestCluster;
const confDir = mkdtempSync(join(tmpdir(), 'raftq-tokens-'));
const config = join(confDir, 'node.json');
let ops: Made;
const open: Client[] = [];
const ids = (): string[] => tc.cluster.specs.map((s) => s.id);
const admins = (): string => tc.cluster.specs.map((s) => `127.0.0.1:${s.httpPort}`).join(',');

async function status(id: string): Promise<NodeStatus | null> {
  if (!tc.cluster.running(id)) return null;
  try {
    const res = await fetch(`http://127.0.0.1:${tc.cluster.spec(id).httpPort}/status`, {
      headers: { authorization: `Bearer ${ops.token}` },
      signal: AbortSignal.timeout(2_000),
    });
    return res.ok ? ((await res.json()) as NodeStatus) : null;
  } catch {
    return null;
  }
}

async function leader(exclude: string | null = null): Promise<string> {
  return waitFor(
    async () => {
      const all = await Promise.all(
        ids()
          .filter((id) => tc.cluster.running(id))
          .map(status),
      );
      const l = all.find((s) => s?.role === 'leader');
      if (!l || l.id === exclude) return undefined;
      return all.every((s) => s && s.leader === l.id && s.ready) ? l.id : undefined;
    },
    30_000,
    'a leader every running node knows',
  );
}

async function appliedEverywhere(index: number, on: string[]): Promise<void> {
  await waitFor(
    async () => ((await Promise.all(on.map(status))).every((s) => (s?.appliedIndex ?? 0) >= index) ? true : undefined),
    20_000,
    `every node applied ${index}`,
  );
}

/** An enqueue through exactly one node, with this token: 'OK' or the error code. */
async function enqueueVia(id: string, token: string): Promise<string> {
  const c = new Client({ servers: [`127.0.0.1:${tc.cluster.spec(id).clientPort}`], timeoutMs: 5_000, token });
  open.push(c);
  try {
    await c.queue('jobs.tok').enqueue({ via: id });
    return 'OK';
  } catch (e) {
    return String((e as { code?: unknown }).code);
  }
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

beforeAll(async () => {
  const made = await raftq(['tokens', 'hash', '--id', 'ops', '--role', 'admin:*', '--json']);
  expect(made.code, made.err).toBe(0);
  ops = JSON.parse(made.out) as Made;
  // Auth on from the start: the operator's admin token is in every node's config file.
  writeFileSync(config, JSON.stringify({ tokens: [ops.entry] }));
  tc = await startCluster(3, { snapshotEveryEntries: 20, perNode: () => ({ args: ['--config', config] }) });
  await leader();
}, 90_000);

afterAll(async () => {
  for (const c of open) await c.close({ timeoutMs: 2_000 }).catch(() => undefined);
  await tc?.cleanup();
  rmSync(confDir, { recursive: true, force: true });
});

describe('replicated tokens (3 nodes)', () => {
  it('add, every node accepts; survives a leader kill, restart and snapshot; revoke, every node refuses', async () => {
    const env = { RAFTQ_ADMIN: admins(), RAFTQ_TOKEN: ops.token };
    const add = await raftq(['tokens', 'add', '--id', 'w1', '--role', 'producer:jobs.*', '--json'], env);
    expect(add.code, add.err).toBe(0);
    const { token, index: addedAt } = JSON.parse(add.out) as { token: string; index: number };
    expect(token.startsWith('w1.')).toBe(true);
    await appliedEverywhere(addedAt, ids());
    for (const id of ids()) expect(await enqueueVia(id, token), id).toBe('OK');
    // Grants hold: producer on jobs.* only.
    const wrong = new Client({ servers: tc.cluster.servers, timeoutMs: 5_000, token });
    open.push(wrong);
    await expect(wrong.queue('other').enqueue(1)).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });

    // Enough entries for a snapshot, then kill the leader: the token still works on the others.
    const bulk = new Client({ servers: tc.cluster.servers, timeoutMs: 5_000, token });
    open.push(bulk);
    for (let i = 0; i < 30; i++) await bulk.queue('jobs.tok').enqueue(i);
    const old = await leader();
    await tc.cluster.kill(old);
    const next = await leader(old);
    const alive = ids().filter((id) => id !== old);
    for (const id of alive) expect(await enqueueVia(id, token), id).toBe('OK');
    // The killed node comes back from its disk (snapshot + log) and accepts it too.
    tc.cluster.start(old);
    await leader();
    expect(await enqueueVia(old, token)).toBe('OK');
    expect(next).not.toBe(old);

    // Listed (ids and grants only) by any node.
    const list = await raftq(['tokens', 'list', '--json'], env);
    expect(list.code, list.err).toBe(0);
    expect(list.out).not.toContain('scrypt');
    const rows = (JSON.parse(list.out) as { tokens: { id: string; source: string; revoked: boolean }[] }).tokens;
    expect(rows.map((r) => [r.id, r.source, r.revoked])).toEqual([
      ['ops', 'config', false],
      ['w1', 'log', false],
    ]);

    // Revoke: every node refuses it once applied.
    const rev = await raftq(['tokens', 'revoke', 'w1', '--json'], env);
    expect(rev.code, rev.err).toBe(0);
    const revokedAt = (JSON.parse(rev.out) as { index: number }).index;
    expect(revokedAt).toBeGreaterThan(addedAt);
    await appliedEverywhere(revokedAt, ids());
    for (const id of ids()) expect(await enqueueVia(id, token), id).toBe('UNAUTHENTICATED');

    // The token's secret never reached a data directory or a log line; the log lines name the id.
    const secret = token.slice(token.indexOf('.') + 1);
    for (const id of ids()) {
      for (const f of filesUnder(tc.cluster.spec(id).dataDir)) {
        expect(readFileSync(f).includes(Buffer.from(secret)), f).toBe(false);
      }
      const lines = (tc.lines.get(id) ?? []).join('\n');
      expect(lines).not.toContain(secret);
      expect(lines).not.toMatch(/scrypt\$/);
    }
    expect([...tc.lines.values()].flat().some((l) => l.includes('client token revoked'))).toBe(true);
  }, 120_000);
});
