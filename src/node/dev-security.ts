// `raftq dev --tls --auth`: development certificates in DIR/certs (made once, reused on the next start
// of the same folder), a fresh all-roles token per start (only its scrypt hash is written, in
// DIR/dev-node.json), the node flags for both, the probe a launcher needs to see a leader, and the
// environment a client needs.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashToken, newToken } from '../rpc/auth.js';
import { devCertPaths, devCertsPresent, makeDevCerts } from './dev-certs.js';
import type { LocalNodeSpec } from './local-cluster.js';

export interface DevSecurity {
  /** Extra `raftq start` flags of each node. */
  args(spec: LocalNodeSpec): string[];
  /** `NAME=value` lines a client exports (the CA, the token); empty when security is off. */
  env: [string, string][];
  /** GET a node's admin path as JSON (HTTPS with the dev CA, the token when auth is on); null on failure. */
  getJson(port: number, path: string): Promise<unknown>;
  scheme: 'http' | 'https';
}

export async function devSecurity(
  dir: string,
  ids: string[],
  opts: { tls?: boolean; auth?: boolean },
): Promise<DevSecurity> {
  const env: [string, string][] = [];
  let ca: Buffer | null = null;
  let files = devCertPaths(join(dir, 'certs'), ids, ['client']);
  if (opts.tls === true) {
    if (!devCertsPresent(files)) files = await makeDevCerts(files.dir, { nodes: ids, clients: ['client'] });
    ca = readFileSync(files.ca);
    env.push(['RAFTQ_TLS_CA', files.ca]);
  }
  let token: string | null = null;
  const config = join(dir, 'dev-node.json');
  if (opts.auth === true) {
    token = newToken('dev');
    const entry = { id: 'dev', hash: await hashToken(token), roles: ['admin:*', 'producer:*', 'worker:*', 'reader:*'] };
    writeFileSync(config, `${JSON.stringify({ tokens: [entry] })}\n`, { mode: 0o600 });
    env.push(['RAFTQ_TOKEN', token]);
  }
  const args = (spec: LocalNodeSpec): string[] => {
    const out: string[] = [];
    const node = files.nodes[spec.id];
    if (ca !== null && node)
      out.push('--tls-cert-file', node.cert, '--tls-key-file', node.key, '--tls-ca-file', files.ca);
    if (token !== null) out.push('--config', config);
    return out;
  };
  return { args, env, getJson: (port, path) => getJson(port, path, ca, token), scheme: ca === null ? 'http' : 'https' };
}

function getJson(port: number, path: string, ca: Buffer | null, token: string | null): Promise<unknown> {
  const request = ca === null ? httpRequest : httpsRequest;
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        headers,
        timeout: 1_000,
        ...(ca === null ? {} : { ca, servername: 'localhost' }),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          try {
            resolve(res.statusCode === 200 ? (JSON.parse(body) as unknown) : null);
          } catch {
            resolve(null);
          }
        });
      },
    );
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
