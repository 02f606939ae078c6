// Rotating the cluster secret (docs/security.md): a node accepts MACs under its secret and under the
// accepted ones, signs with its secret only; the accept file needs a secret file.
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../../src/node/config.js';
import { peerMac, peerMacValid, type PeerAuth } from '../../../src/rpc/peer-auth.js';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const A = new Uint8Array(Buffer.from('a'.repeat(32)));
const B = new Uint8Array(Buffer.from('b'.repeat(32)));
const C = new Uint8Array(Buffer.from('c'.repeat(32)));
const header = { group: 0, term: 3, from: 'n1', to: 'n2', type: 'Heartbeat' };
const msg = new Uint8Array([1, 2, 3]);
const macUnder = (secret: Uint8Array): Buffer => peerMac({ secret, clusterId: 'c1' }, header, msg);

describe('rpc - cluster secret rotation', () => {
  it('accepts the secret and the accepted ones, nothing else; a snapshot chunk too', () => {
    const auth: PeerAuth = { secret: B, clusterId: 'c1', accept: [A] };
    expect(peerMacValid(auth, header, msg, macUnder(B))).toBe(true);
    expect(peerMacValid(auth, header, msg, macUnder(A))).toBe(true);
    expect(peerMacValid(auth, header, msg, macUnder(C))).toBe(false);
    expect(peerMacValid({ secret: B, clusterId: 'c1' }, header, msg, macUnder(A))).toBe(false);
    const chunk = { chunkBytes: 2, pieces: [new Uint8Array([9, 9])] };
    const snap = peerMac({ secret: A, clusterId: 'c1' }, header, msg, chunk);
    expect(peerMacValid(auth, header, msg, snap, chunk)).toBe(true);
    // Another cluster id never verifies, whatever the secret.
    expect(peerMacValid({ ...auth, clusterId: 'c2' }, header, msg, macUnder(A))).toBe(false);
  });

  it('config: the accept file is read and checked, and needs a secret file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftq-rot-'));
    try {
      writeFileSync(join(dir, 'a'), 'a'.repeat(32));
      writeFileSync(join(dir, 'short'), 'x');
      const base = {
        id: 'n1',
        listen: '127.0.0.1:7001',
        peerListen: '127.0.0.1:7101',
        peers: 'n1=127.0.0.1:7101',
        dataDir: dir,
      };
      const c = resolveConfig(
        { ...base, clusterSecretFile: join(dir, 'a'), clusterSecretAcceptFile: join(dir, 'a') },
        {},
      );
      expect(Buffer.from(c.clusterSecretAccept ?? []).toString()).toBe('a'.repeat(32));
      expect(c.clusterSecretFiles).toEqual({ secret: join(dir, 'a'), accept: join(dir, 'a') });
      expect(() => resolveConfig({ ...base, clusterSecretAcceptFile: join(dir, 'a') }, {})).toThrow(ConfigError);
      expect(() =>
        resolveConfig({ ...base, clusterSecretFile: join(dir, 'a'), clusterSecretAcceptFile: join(dir, 'short') }, {}),
      ).toThrow(/^cluster-secret-accept-file: .* fewer than 16/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
