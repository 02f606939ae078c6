// `raftq certs dev DIR`: a CA and node / client certificates that chain to it, name what they must
// (a node: its id, localhost, 127.0.0.1; a client: only client use), keys readable by the owner only;
// bad names are usage errors (exit 2). Also the node's TLS settings and the CLI's TLS options.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { certsCommand } from '../../../src/node/cli-certs.js';
import { cliOutput, clientTlsOf } from '../../../src/node/cli-common.js';
import { ConfigError, resolveConfig } from '../../../src/node/config.js';
import type { DevCertFiles } from '../../../src/node/dev-certs.js';
import { readTlsBundle } from '../../../src/rpc/tls.js';

const dir = mkdtempSync(join(tmpdir(), 'raftq-certs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let code = 0;
  let out = '';
  let err = '';
  const saved = { ...cliOutput };
  cliOutput.out = (s) => void (out += s);
  cliOutput.err = (s) => void (err += s);
  try {
    const program = new Command('raftq').exitOverride();
    program.addCommand(certsCommand((c) => (code = c)));
    await program.parseAsync(['node', 'raftq', 'certs', 'dev', ...args]);
  } finally {
    Object.assign(cliOutput, saved);
  }
  return { code, out, err };
}

describe('cli - raftq certs dev', () => {
  let files: DevCertFiles;

  it('writes a CA and certificates that chain to it and name their holders', async () => {
    const r = await run([join(dir, 'a'), '--nodes', 'a1,a2', '--clients', 'ops,ci', '--host', 'broker.lan', '--json']);
    expect(r.code, r.err).toBe(0);
    files = JSON.parse(r.out) as DevCertFiles;
    const ca = new X509Certificate(readTlsBundle({ certFile: files.ca, keyFile: files.caKey, caFile: files.ca }).cert);
    expect(ca.ca).toBe(true);
    for (const id of ['a1', 'a2']) {
      const n = files.nodes[id] as { cert: string; key: string };
      const cert = new X509Certificate(readTlsBundle({ certFile: n.cert, keyFile: n.key, caFile: files.ca }).cert);
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.subjectAltName).toBe(
        `DNS:${id}, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:broker.lan`,
      );
      expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
      expect(statSync(n.key).mode & 0o777).toBe(0o600);
    }
    const ops = files.clients['ops'] as { cert: string; key: string };
    const client = new X509Certificate(readTlsBundle({ certFile: ops.cert, keyFile: ops.key, caFile: files.ca }).cert);
    expect(client.verify(ca.publicKey)).toBe(true);
    expect(client.subject).toBe('CN=ops');
    expect(client.subjectAltName).toBeUndefined();
    expect(client.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(statSync(files.caKey).mode & 0o777).toBe(0o600);
  });

  it('refuses bad names, duplicates and a client named like a node', async () => {
    for (const args of [
      ['--nodes', 'a/b'],
      ['--nodes', 'n1,n1'],
      ['--nodes', 'ca'],
      ['--nodes', 'n1', '--clients', 'n1'],
      ['--days', '0'],
    ]) {
      const r = await run([join(dir, 'bad'), ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(/^raftq: --/);
    }
  });

  it('the node settings: all three files or none, each checked, client auth none or require', () => {
    const base = {
      id: 'a1',
      listen: '127.0.0.1:7001',
      peerListen: '127.0.0.1:7101',
      peers: 'a1=127.0.0.1:7101',
      dataDir: dir,
    };
    const n = files.nodes['a1'] as { cert: string; key: string };
    const tls = { tlsCertFile: n.cert, tlsKeyFile: n.key, tlsCaFile: files.ca };
    expect(resolveConfig(base, {}).tls).toBeNull();
    expect(resolveConfig({ ...base, ...tls }, {}).tls).toEqual({
      paths: { certFile: n.cert, keyFile: n.key, caFile: files.ca },
      clientAuth: 'none',
    });
    const fail = (flags: Record<string, string>): string => {
      try {
        resolveConfig({ ...base, ...flags }, {});
        return 'no error';
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
    };
    expect(fail({ tlsCertFile: n.cert })).toMatch(/^tls-key-file: is required/);
    expect(fail({ ...tls, tlsKeyFile: files.caKey })).toMatch(/^tls-key-file: .* does not fit/);
    expect(fail({ ...tls, tlsCaFile: join(dir, 'missing') })).toMatch(/^tls-ca-file: cannot read .*ENOENT/);
    expect(fail({ ...tls, tlsClientAuth: 'maybe' })).toMatch(/^tls-client-auth: "maybe"/);
    expect(fail({ tlsClientAuth: 'require' })).toMatch(/^tls-client-auth: needs --tls-cert-file/);
  });

  it('the CLI TLS options: flags over RAFTQ_TLS_*, cert and key together', () => {
    const ops = files.clients['ops'] as { cert: string; key: string };
    expect(clientTlsOf({}, {})).toBeUndefined();
    expect(clientTlsOf({}, { RAFTQ_TLS_CA: files.ca })?.ca?.toString()).toContain('BEGIN CERTIFICATE');
    const both = clientTlsOf({ tlsCert: ops.cert }, { RAFTQ_TLS_KEY: ops.key });
    expect(both?.cert?.toString()).toContain('BEGIN CERTIFICATE');
    expect(() => clientTlsOf({ tlsCert: ops.cert }, {})).toThrow(/needs both --tls-cert and --tls-key/);
    expect(() => clientTlsOf({ tlsCa: join(dir, 'nope') }, {})).toThrow(/--tls-ca: cannot read/);
  });
});
