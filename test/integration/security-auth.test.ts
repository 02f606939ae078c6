// Client auth on a real node (issue #14): tokens made with `raftq tokens hash` go into the node config
// (hashes only on disk); the SDK and the CLI need a token with the right grant; the admin HTTP port
// keeps /healthz and /readyz open and asks for an admin or reader token for the rest.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { RAFTQ_BIN } from '../../src/node/local-cluster.js';
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
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (e, out, err) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });
}

async function made(id: string, role: string): Promise<Made> {
  const r = await raftq(['tokens', 'hash', '--id', id, '--role', role, '--json']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as Made;
}

const dir = mkdtempSync(join(tmpdir(), 'raftq-auth-'));
let tc: TestCluster;
let tokens: Record<'ops' | 'prod' | 'look', Made>;
const open: Client[] = [];
const servers = (): string[] => tc.cluster.servers;
const http = (path: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`http://127.0.0.1:${tc.cluster.spec('n1').httpPort}${path}`, { headers, signal: AbortSignal.timeout(5_000) });
const bearer = (m: Made): Record<string, string> => ({ authorization: `Bearer ${m.token}` });

function client(token?: string): Client {
  const c = new Client({ servers: servers(), timeoutMs: 5_000, ...(token ? { token } : {}) });
  open.push(c);
  return c;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return String((e as { code?: unknown }).code);
  }
}

beforeAll(async () => {
  tokens = {
    ops: await made('ops', 'admin:*'),
    prod: await made('prod', 'producer:jobs.*'),
    look: await made('look', 'reader:*'),
  };
  const config = join(dir, 'node.json');
  writeFileSync(config, JSON.stringify({ tokens: Object.values(tokens).map((t) => t.entry) }));
  tc = await startCluster(1, { perNode: () => ({ args: ['--config', config] }) });
  await waitFor(
    async () => ((await http('/readyz').catch(() => null))?.status === 200 ? true : undefined),
    30_000,
    'ready',
  );
}, 60_000);

afterAll(async () => {
  for (const c of open) await c.close({ timeoutMs: 2_000 }).catch(() => undefined);
  await tc?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('security - client tokens on a real node', () => {
  it('the SDK needs a token with the right grant, and a refused call applies nothing', async () => {
    expect(await codeOf(client().queue('jobs.a').enqueue('x'))).toBe('UNAUTHENTICATED');
    expect(await codeOf(client(`${tokens.prod.token}x`).queue('jobs.a').enqueue('x'))).toBe('UNAUTHENTICATED');
    expect(await codeOf(client(tokens.ops.token).queue('jobs.a').create())).toBe('OK');
    expect(await codeOf(client(tokens.prod.token).queue('jobs.b').create())).toBe('PERMISSION_DENIED');
    expect(await codeOf(client(tokens.prod.token).queue('other').enqueue('x'))).toBe('PERMISSION_DENIED');
    expect(await codeOf(client(tokens.look.token).queue('jobs.a').enqueue('x'))).toBe('PERMISSION_DENIED');
    expect(await codeOf(client(tokens.prod.token).queue('jobs.a').enqueue('x'))).toBe('OK');
    const reader = client(tokens.look.token);
    expect((await reader.queue('jobs.a').stats()).counts.waiting).toBe(1);
    expect(await codeOf(reader.queue('jobs.b').stats())).toBe('NOT_FOUND');
    expect(await codeOf(reader.queue('other').stats())).toBe('NOT_FOUND');
  });

  it('the CLI takes --token or RAFTQ_TOKEN', async () => {
    const base = ['queues', 'list', '--servers', servers().join(','), '--json', '--timeout-ms', '5000'];
    const refused = await raftq(base);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('UNAUTHENTICATED');
    expect((await raftq([...base, '--token', tokens.look.token])).code).toBe(0);
    const viaEnv = await raftq(base, { RAFTQ_TOKEN: tokens.look.token });
    expect(viaEnv.code, viaEnv.err).toBe(0);
    expect(viaEnv.out).toContain('jobs.a');
  });

  it('the admin port: probes open, the rest needs an admin or reader token', async () => {
    expect((await http('/healthz')).status).toBe(200);
    expect((await http('/readyz')).status).toBe(200);
    for (const path of ['/metrics', '/status', '/debug/digests', '/console/']) {
      const none = await http(path);
      expect(none.status, path).toBe(401);
      expect(none.headers.get('www-authenticate')).toContain('Basic');
      expect((await http(path, bearer(tokens.prod))).status, path).toBe(403);
      expect((await http(path, bearer(tokens.look))).status, path).toBe(200);
      expect((await http(path, bearer(tokens.ops))).status, path).toBe(200);
    }
    const basic = Buffer.from(`any:${tokens.look.token}`).toString('base64');
    expect((await http('/status', { authorization: `Basic ${basic}` })).status).toBe(200);
    const metrics = await (await http('/metrics', bearer(tokens.ops))).text();
    expect(metrics).toMatch(/raftq_client_auth_failures_total\{token="prod",code="PERMISSION_DENIED"\} [1-9]/);
    for (const t of Object.values(tokens)) expect(metrics).not.toContain(t.token);
  });

  it('keeps only hashes on disk', () => {
    const files = (d: string): string[] =>
      readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? files(join(d, f)) : [join(d, f)]));
    for (const f of [...files(dir), ...files(tc.dir)]) {
      const bytes = readFileSync(f);
      for (const t of Object.values(tokens)) expect(bytes.includes(t.token), f).toBe(false);
    }
  });
});
