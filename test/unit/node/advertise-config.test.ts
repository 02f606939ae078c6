// `--advertise` per client network (issue 18): one unnamed default and name=host:port entries.
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../../src/node/config.js';

const base = {
  id: 'n1',
  listen: '127.0.0.1:7001',
  peerListen: '127.0.0.1:7101',
  peers: 'n1=127.0.0.1:7101',
  dataDir: '/tmp/x',
};

describe('--advertise with client networks', () => {
  it('takes a default and named addresses, in any order', () => {
    const c = resolveConfig({ ...base, advertise: 'public=203.0.113.5:443, 10.0.0.1:7001,docker=[::1]:7002' }, {});
    expect(c.advertise).toBe('10.0.0.1:7001');
    expect(c.advertiseNetworks).toEqual({ public: '203.0.113.5:443', docker: '[::1]:7002' });
  });

  it('defaults to --listen, with no networks; named entries alone keep that default', () => {
    expect(resolveConfig(base, {}).advertiseNetworks).toEqual({});
    const c = resolveConfig(base, { RAFTQ_ADVERTISE: 'public=203.0.113.5:443' });
    expect(c.advertise).toBe('127.0.0.1:7001');
    expect(c.advertiseNetworks).toEqual({ public: '203.0.113.5:443' });
  });

  it('refuses bad entries naming the setting', () => {
    const bad: [string, RegExp][] = [
      ['a:1,b:2', /^advertise: two unnamed addresses/],
      ['public=a:1,public=b:2', /^advertise: network "public" named twice/],
      ['p ub=a:1', /^advertise: "p ub" is not a network name/],
      ['=a:1', /^advertise: "" is not a network name/],
      ['public=nope', /^advertise\.public: "nope" is not an address/],
      [Array.from({ length: 17 }, (_, i) => `n${i}=h:${i + 1}`).join(','), /at most 16/],
    ];
    for (const [advertise, re] of bad) {
      let err: unknown;
      try {
        resolveConfig({ ...base, advertise }, {});
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(re);
    }
  });
});
