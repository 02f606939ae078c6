// TLS on a real 3-node cluster (issue #14): certificates from `raftq certs dev`, client port with
// client certificates required, peers on mutual TLS, HTTPS admin port. A producer and a worker do a
// round trip over TLS; clients without the CA or without a certificate are refused; a member whose
// certificate another CA signed cannot join (and can once it has the cluster's); SIGHUP makes the
// node serve a renewed certificate to new connections without dropping it.
import { request } from 'node:https';
import { readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, type ClientTls } from '../../src/index.js';
import { makeDevCerts, type DevCertFiles } from '../../src/node/dev-certs.js';
import type { NodeStatus } from '../../src/rpc/executor.js';
import { startCluster, waitFor, type TestCluster } from './helpers.js';
import { runRaftq, waitLine } from './node-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'raftq-tls-it-'));
const certsDir = join(dir, 'certs');
let certs: DevCertFiles;
let foreign: DevCertFiles;
/** The certificate set each node starts with (n3 is moved to the foreign CA and back). */
const setOf: Record<string, () => DevCertFiles> = {};
let tc: TestCluster;
const open: Client[] = [];

function tlsArgs(id: string): string[] {
  const set = setOf[id]?.() ?? certs;
  const n = set.nodes[id] as { cert: string; key: string };
  return ['--tls-cert-file', n.cert, '--tls-key-file', n.key, '--tls-ca-file', set.ca, '--tls-client-auth', 'require'];
}

function clientTls(): ClientTls {
  const c = certs.clients['client'] as { cert: string; key: string };
  return { ca: readFileSync(certs.ca), cert: readFileSync(c.cert), key: readFileSync(c.key) };
}

function client(tls: ClientTls | undefined, servers = tc.cluster.servers): Client {
  const c = new Client({ servers, timeoutMs: 4_000, ...(tls ? { tls } : {}) });
  open.push(c);
  return c;
}

/** GET over HTTPS with the cluster CA (the admin port), null on any failure. */
function httpsJson<T>(port: number, path: string, ca = certs.ca): Promise<T | null> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path, ca: readFileSync(ca), servername: 'localhost', timeout: 2_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(res.statusCode === 200 ? (JSON.parse(body) as T) : null));
      },
    );
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

const status = (id: string, ca?: string): Promise<NodeStatus | null> =>
  httpsJson<NodeStatus>(tc.cluster.spec(id).httpPort, '/status', ca);

async function leaderOf(ids: string[]): Promise<string> {
  return waitFor(
    async () => {
      const all = await Promise.all(ids.map((id) => status(id)));
      const leader = all.find((s) => s?.role === 'leader')?.id;
      return leader !== undefined && all.every((s) => s?.leader === leader && s.ready) ? leader : undefined;
    },
    30_000,
    `a leader known to ${ids.join(', ')}`,
  );
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return String((e as { code?: unknown }).code);
  }
}

/** The fingerprint of the certificate a new TLS connection to `port` is served. */
function served(port: number): Promise<string> {
  const c = certs.clients['client'] as { cert: string; key: string };
  return new Promise((resolve, reject) => {
    const s = connect(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        ALPNProtocols: ['h2'],
        ca: readFileSync(certs.ca),
        cert: readFileSync(c.cert),
        key: readFileSync(c.key),
      },
      () => {
        const fp = s.getPeerCertificate().fingerprint256;
        s.destroy();
        resolve(fp);
      },
    );
    s.once('error', reject);
  });
}

beforeAll(async () => {
  const made = await runRaftq(['certs', 'dev', certsDir, '--nodes', 'n1,n2,n3', '--json']);
  expect(made.code, made.stderr).toBe(0);
  certs = JSON.parse(made.stdout) as DevCertFiles;
  foreign = await makeDevCerts(join(dir, 'foreign'), { nodes: ['n1', 'n2', 'n3'], clients: [] });
  tc = await startCluster(3, { perNode: (spec) => ({ args: tlsArgs(spec.id) }) });
  await leaderOf(['n1', 'n2', 'n3']);
}, 90_000);

afterAll(async () => {
  for (const c of open) await c.close({ timeoutMs: 2_000 }).catch(() => undefined);
  await tc?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS on a real cluster', () => {
  it('a producer and a worker round trip over TLS with a client certificate', async () => {
    const c = client(clientTls());
    const q = c.queue<{ n: number }>('tls.jobs');
    await q.create();
    for (let n = 0; n < 20; n++) await q.enqueue({ n });
    const seen: number[] = [];
    const w = c.worker<{ n: number }>('tls.jobs', (t) => void seen.push(t.payload.n), { concurrency: 4 });
    await waitFor(async () => ((await q.stats()).counts.completed === 20 ? true : undefined), 30_000, '20 completed');
    await w.close({ timeoutMs: 2_000 });
    expect([...seen].sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
  });

  it('refuses a plaintext client, a client without the CA, and one without a client certificate', async () => {
    const c = clientTls();
    // Every attempt fails at the handshake until the call's deadline: the SDK reports UNAVAILABLE
    // (no server answered) or, when the deadline fires first on a loaded machine, DEADLINE_EXCEEDED.
    const refused = ['UNAVAILABLE', 'DEADLINE_EXCEEDED'];
    expect(refused).toContain(await codeOf(client(undefined).queue('tls.jobs').stats()));
    expect(refused).toContain(await codeOf(client({}).queue('tls.jobs').stats()));
    expect(refused).toContain(
      await codeOf(
        client({ ca: c.ca as Buffer })
          .queue('tls.jobs')
          .stats(),
      ),
    );
    expect(await codeOf(client(c).queue('tls.jobs').stats())).toBe('OK');
  });

  it('the CLI takes the CA and client certificate from RAFTQ_TLS_*', async () => {
    const c = certs.clients['client'] as { cert: string; key: string };
    const base = ['queues', 'list', '--servers', tc.cluster.servers.join(','), '--json', '--timeout-ms', '4000'];
    const refused = await runRaftq(base);
    expect(refused.code).toBe(1);
    const ok = await runRaftq(base, 20_000, { RAFTQ_TLS_CA: certs.ca, RAFTQ_TLS_CERT: c.cert, RAFTQ_TLS_KEY: c.key });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('tls.jobs');
    const flags = await runRaftq([...base, '--tls-ca', certs.ca, '--tls-cert', c.cert, '--tls-key', c.key]);
    expect(flags.code, flags.stderr).toBe(0);
  });

  it('a member whose certificate another CA signed is refused by its peers, and joins with the right one', async () => {
    const leader = await leaderOf(['n1', 'n2', 'n3']);
    const target = leader === 'n3' ? 'n2' : 'n3';
    await tc.cluster.signal(target, 'SIGTERM');
    // Its certificate names it rightly; only the signer is wrong.
    setOf[target] = () => foreign;
    tc.cluster.start(target);
    // Each side refuses the other's certificate: its dials fail on the signature.
    await waitLine(tc, target, /"reason":"[^"]*certificate signature failure[^"]*","msg":"peer unreachable"/, 30_000);
    const q = client(clientTls()).queue('tls.more');
    await q.create();
    await q.enqueue({ n: 1 });
    const leaderStatus = await status(leader);
    expect(leaderStatus).not.toBeNull();
    // The impostor never learns of the new entries: its own admin port (with its own CA) says so.
    const own = await waitFor(
      () => httpsJson<NodeStatus>(tc.cluster.spec(target).httpPort, '/status', foreign.ca).then((s) => s ?? undefined),
      20_000,
      `${target} answers on its admin port`,
    );
    expect(own.commitIndex).toBeLessThan(leaderStatus?.commitIndex ?? 0);
    expect(own.leader).toBeNull();
    await tc.cluster.signal(target, 'SIGTERM');
    setOf[target] = () => certs;
    tc.cluster.start(target);
    await leaderOf(['n1', 'n2', 'n3']);
    await waitFor(
      async () => ((await status(target))?.appliedIndex ?? 0) >= (leaderStatus?.commitIndex ?? 1) || undefined,
      30_000,
      `${target} caught up`,
    );
  });

  it('SIGHUP: a renewed certificate is served to new connections, the node stays up', async () => {
    const before = await served(tc.cluster.spec('n1').clientPort);
    const renewed = await makeDevCerts(certsDir, { nodes: ['n1'], clients: [], reuseCa: true });
    expect(renewed.ca).toBe(certs.ca);
    process.kill(tc.cluster.pid('n1') as number, 'SIGHUP');
    await waitLine(tc, 'n1', /TLS certificate reloaded/);
    const after = await served(tc.cluster.spec('n1').clientPort);
    expect(after).not.toBe(before);
    expect(tc.cluster.running('n1')).toBe(true);
    const q = client(clientTls(), [`127.0.0.1:${tc.cluster.spec('n1').clientPort}`]).queue('tls.jobs');
    expect((await q.stats()).counts.completed).toBe(20);
  });
});
