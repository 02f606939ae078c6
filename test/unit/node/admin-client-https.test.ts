// adminCall over HTTPS (issue #14): with the cluster CA (`raftq tokens|members … --tls-ca`) it talks
// to an admin port that serves TLS, sending the bearer token and the JSON body; a server certificate
// of another CA is refused.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall } from '../../../src/node/admin-client.js';
import { makeDevCerts, type DevCertFiles } from '../../../src/node/dev-certs.js';

const dir = mkdtempSync(join(tmpdir(), 'raftq-admin-https-'));
let files: DevCertFiles;
let foreign: DevCertFiles;
let server: Server;
let address = '';
const seen: { auth: string | undefined; body: string }[] = [];

beforeAll(async () => {
  files = await makeDevCerts(join(dir, 'a'), { nodes: ['n1'], clients: [], days: 1 });
  foreign = await makeDevCerts(join(dir, 'b'), { nodes: ['n1'], clients: [], days: 1 });
  const n1 = files.nodes['n1'] as { cert: string; key: string };
  server = createServer({ cert: readFileSync(n1.cert), key: readFileSync(n1.key) }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ auth: req.headers.authorization, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, path: req.url }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('adminCall over HTTPS', () => {
  it('with the cluster CA: answers, with the token and body sent', async () => {
    const a = await adminCall('/admin/tokens/list', {
      addresses: [address],
      body: { x: 1 },
      token: 'ops.secret',
      ca: readFileSync(files.ca),
      deadlineMs: 5_000,
    });
    expect(a).toEqual({ ok: true, path: '/admin/tokens/list' });
    expect(seen.at(-1)).toEqual({ auth: 'Bearer ops.secret', body: '{"x":1}' });
  });

  it('a certificate of another CA is refused (UNAVAILABLE after the deadline), and so is plain HTTP', async () => {
    const n = seen.length;
    await expect(
      adminCall('/admin/tokens/list', { addresses: [address], ca: readFileSync(foreign.ca), deadlineMs: 300 }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(adminCall('/admin/tokens/list', { addresses: [address], deadlineMs: 300 })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
    expect(seen.length).toBe(n);
  });
});
