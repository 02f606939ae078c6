import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../../src/node/config.js';

const base = {
  id: 'n1',
  listen: '127.0.0.1:7001',
  peerListen: '127.0.0.1:7101',
  peers: 'n1=127.0.0.1:7101,n2=127.0.0.1:7102',
  dataDir: '/tmp/x',
};
const tmp = mkdtempSync(join(tmpdir(), 'raftq-security-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('node config - security settings', () => {
  it('reads the cluster secret file from the flag, the env or the config file, trimmed', () => {
    const file = join(tmp, 'secret');
    writeFileSync(file, '  0123456789abcdef0123456789abcdef\n');
    const want = new Uint8Array(Buffer.from('0123456789abcdef0123456789abcdef'));
    expect(resolveConfig({ ...base, clusterSecretFile: file }, {}).clusterSecret).toEqual(want);
    expect(resolveConfig(base, { RAFTQ_CLUSTER_SECRET_FILE: file }).clusterSecret).toEqual(want);
    expect(resolveConfig(base, {}, { clusterSecretFile: file }).clusterSecret).toEqual(want);
    expect(resolveConfig(base, {}).clusterSecret).toBeNull();
  });

  it('refuses a missing or short secret file, naming the setting', () => {
    const short = join(tmp, 'short');
    writeFileSync(short, 'tooshort\n');
    for (const file of [short, join(tmp, 'absent')]) {
      const err = (() => {
        try {
          resolveConfig({ ...base, clusterSecretFile: file }, {});
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).field).toBe('cluster-secret-file');
    }
  });
});
