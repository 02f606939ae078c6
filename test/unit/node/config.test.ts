import { mkdtempSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeRaftConfig } from '../../../src/raft/config.js';
import {
  ConfigError,
  heartbeatTicksFor,
  parseHostPort,
  prepareDataDir,
  readConfigFile,
  resolveConfig,
} from '../../../src/node/config.js';

const base = {
  id: 'n1',
  listen: '127.0.0.1:7001',
  peerListen: '127.0.0.1:7101',
  peers: 'n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103',
  dataDir: '/tmp/x',
};
const tmp = mkdtempSync(join(tmpdir(), 'raftq-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('node config', () => {
  it('resolves flags with defaults', () => {
    const c = resolveConfig(base, {});
    expect(c.id).toBe('n1');
    expect(c.peers.get('n3')).toEqual({ host: '127.0.0.1', port: 7103 });
    expect(c.advertise).toBe('127.0.0.1:7001');
    expect(c.http).toBeNull();
    expect(c.logMemoryMib).toBe(16);
    expect(resolveConfig({ ...base, logMemoryMib: '0' }, {}).logMemoryMib).toBe(0);
  });

  it('takes flags over env over file', () => {
    const env = { RAFTQ_HTTP: '127.0.0.1:8001', RAFTQ_LOG_LEVEL: 'info' };
    const c = resolveConfig({ ...base, logLevel: 'debug' }, env, { http: '127.0.0.1:9999', advertise: '[::1]:7001' });
    expect(c.logLevel).toBe('debug');
    expect(c.http).toEqual({ host: '127.0.0.1', port: 8001 });
    expect(c.advertise).toBe('[::1]:7001');
  });

  it('names the field of each bad setting in one line', () => {
    const cases: [Record<string, string>, string][] = [
      [{ ...base, listen: '127.0.0.1' }, 'listen'],
      [{ ...base, listen: '127.0.0.1:70000' }, 'listen'],
      [{ ...base, id: 'n9' }, 'id'],
      [{ ...base, peers: 'n1=127.0.0.1:7101,n1=127.0.0.1:7102' }, 'peers'],
      [{ ...base, peers: 'garbage' }, 'peers'],
      [{ ...base, logLevel: 'loud' }, 'log-level'],
      [{ ...base, heartbeatMs: '-3' }, 'heartbeat-ms'],
      [{ ...base, logMemoryMib: '-1' }, 'log-memory-mib'],
      [{ id: 'n1' }, 'listen'],
    ];
    for (const [flags, field] of cases) {
      const err = errorOf(() => resolveConfig(flags, {}));
      expect(err.field).toBe(field);
      expect(err.message).not.toContain('\n');
    }
  });

  it('parses IPv6 loopback', () => {
    expect(parseHostPort('listen', '[::1]:7001')).toEqual({ host: '::1', port: 7001 });
  });

  it('reads a JSON config file and refuses unknown keys', () => {
    const good = join(tmp, 'good.json');
    writeFileSync(good, JSON.stringify({ id: 'n2', peers: { n2: '127.0.0.1:7102' }, heartbeatMs: 20 }));
    expect(readConfigFile(good)).toEqual({ id: 'n2', peers: 'n2=127.0.0.1:7102', heartbeatMs: '20' });
    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify({ idd: 'n2' }));
    expect(errorOf(() => readConfigFile(bad)).message).toMatch(/unknown setting "idd"/);
    writeFileSync(bad, '{not json');
    expect(errorOf(() => readConfigFile(bad)).field).toBe('config');
  });

  it('refuses a data dir that cannot be created', () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expect(errorOf(() => prepareDataDir(join(file, 'sub'))).field).toBe('data-dir');
    if (process.getuid?.() !== 0) {
      const ro = join(tmp, 'ro');
      prepareDataDir(ro);
      chmodSync(ro, 0o500);
      expect(errorOf(() => prepareDataDir(ro)).field).toBe('data-dir');
    }
  });
});

describe('node config: --join (issue 16)', () => {
  const { peers: _p, ...noPeers } = base;
  it('takes --join instead of --peers; its own peer address defaults to --peer-listen', () => {
    const c = resolveConfig({ ...noPeers, id: 'n4', join: '10.0.0.1:8001, 10.0.0.2:8001' }, {});
    expect(c.join).toEqual(['10.0.0.1:8001', '10.0.0.2:8001']);
    expect(c.joinAs).toBe('voter');
    expect([...c.peers]).toEqual([['n4', { host: '127.0.0.1', port: 7101 }]]);
    expect(resolveConfig({ ...base, id: 'n9', join: 'h:1', joinAs: 'learner' }, {}).joinAs).toBe('learner');
  });

  it('needs --peers or --join, and a known --join-as', () => {
    expect(errorOf(() => resolveConfig(noPeers, {})).message).toBe(
      'peers: is required (flag --peers or RAFTQ_PEERS), unless --join is given',
    );
    expect(errorOf(() => resolveConfig({ ...base, join: 'h:1', joinAs: 'boss' }, {})).message).toBe(
      'join-as: "boss" is not voter or learner',
    );
    expect(errorOf(() => resolveConfig({ ...base, join: 'nohost' }, {})).field).toBe('join');
  });
});

describe('heartbeatTicksFor', () => {
  it('heartbeats every 5 ticks at the default election timeout (its check-quorum rounds fall on them)', () => {
    expect(heartbeatTicksFor(10)).toBe(5);
    expect(10 % heartbeatTicksFor(10)).toBe(0);
    expect(heartbeatTicksFor(40)).toBe(5);
    expect(heartbeatTicksFor(4)).toBe(2);
  });

  it('keeps at least 2 heartbeats within the shortest timeout for every allowed --election-ticks', () => {
    for (let e = 3; e <= 1000; e++) {
      const hb = heartbeatTicksFor(e);
      expect(hb).toBeGreaterThanOrEqual(1);
      expect(e / hb).toBeGreaterThanOrEqual(2);
      // The Raft core accepts the pair (it refuses heartbeatTicks >= electionTicks).
      makeRaftConfig({ id: 'n1', storageId: 's1', group: 0, electionTicks: e, heartbeatTicks: hb });
    }
  });
});
