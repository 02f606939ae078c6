import { describe, expect, it } from 'vitest';
import { MessageType } from '../../../src/raft/types.js';
import { PEER_MAC_BYTES, peerMac, peerMacValid, type PeerAuth } from '../../../src/rpc/peer-auth.js';
import { encodeMessage, headerOf, type PeerHeader } from '../../../src/rpc/peer-codec.js';
import { message } from './helpers.js';

const auth: PeerAuth = { secret: Buffer.from('0123456789abcdef0123456789abcdef'), clusterId: 'c1' };
const msg = message({ type: MessageType.TimeoutNow, from: 'n1', to: 'n2', term: 7 });
const header = headerOf(msg);
const bytes = encodeMessage(msg);

describe('rpc - peer MAC', () => {
  it('verifies its own MAC, with the header as the wire gives it', () => {
    const mac = peerMac(auth, header, bytes);
    expect(mac.byteLength).toBe(PEER_MAC_BYTES);
    expect(peerMacValid(auth, header, bytes, mac)).toBe(true);
    expect(peerMacValid(auth, { ...header, term: '7' }, bytes, mac)).toBe(true);
  });

  it('fails for any change of secret, cluster id, header field, message byte or chunk', () => {
    const mac = peerMac(auth, header, bytes);
    expect(peerMacValid({ ...auth, secret: Buffer.from('0123456789abcdef0123456789abcdeF') }, header, bytes, mac)).toBe(
      false,
    );
    expect(peerMacValid({ ...auth, clusterId: 'c2' }, header, bytes, mac)).toBe(false);
    expect(peerMacValid({ ...auth, clusterId: '' }, header, bytes, mac)).toBe(false);
    for (const [k, v] of [
      ['group', 1],
      ['term', 8],
      ['from', 'n3'],
      ['to', 'n1'],
      ['type', 'Vote'],
    ] as const)
      expect(peerMacValid(auth, { ...header, [k]: v }, bytes, mac)).toBe(false);
    const flipped = Uint8Array.from(bytes);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(peerMacValid(auth, header, flipped, mac)).toBe(false);
    const chunk = { chunkBytes: 3, pieces: [new Uint8Array([1, 2, 3])] };
    const withChunk = peerMac(auth, header, bytes, chunk);
    expect(peerMacValid(auth, header, bytes, withChunk, chunk)).toBe(true);
    expect(peerMacValid(auth, header, bytes, withChunk, { chunkBytes: 3, pieces: [new Uint8Array([1, 2, 4])] })).toBe(
      false,
    );
    expect(peerMacValid(auth, header, bytes, withChunk)).toBe(false);
  });

  it('fails for a missing, short or malformed MAC or header', () => {
    const mac = peerMac(auth, header, bytes);
    expect(peerMacValid(auth, header, bytes, undefined)).toBe(false);
    expect(peerMacValid(auth, header, bytes, new Uint8Array(0))).toBe(false);
    expect(peerMacValid(auth, header, bytes, mac.subarray(0, 16))).toBe(false);
    expect(peerMacValid(auth, null, bytes, mac)).toBe(false);
    expect(peerMacValid(auth, { ...header, from: 5 }, bytes, mac)).toBe(false);
    expect(peerMacValid(auth, header, 'bytes', mac)).toBe(false);
  });
});

// The MAC's bytes are part of the wire: members of two releases side by side during a rolling upgrade
// must agree on them. These vectors were taken from the first implementation (one update per field).
describe('peer MAC - fixed vectors', () => {
  const secret = new TextEncoder().encode('0123456789abcdef-cluster-secret');
  const h = { group: 0, term: 7, from: 'n1', to: 'n2', type: 'Append' } as unknown as PeerHeader;
  const msg = new Uint8Array([1, 2, 3, 250, 0, 9]);

  it('gives the same bytes as every earlier release', () => {
    expect(peerMac({ secret, clusterId: 'c-π' }, h, msg).toString('hex')).toBe(
      '2a54d4357188111e82bc969aff90d0cf58b098e92578fcaf36e302a2b58ea4fa',
    );
    const big = { ...h, term: 2 ** 40 } as unknown as PeerHeader;
    expect(peerMac({ secret, clusterId: '' }, big, new Uint8Array(0)).toString('hex')).toBe(
      '8dc1eb505224f2a9df9f71373d4c75792e6c60d200f80fc204876d101d849e1c',
    );
    const chunk = { chunkBytes: 5, pieces: [new Uint8Array([1, 2]), new Uint8Array([3, 4, 5])] };
    expect(peerMac({ secret, clusterId: 'c1' }, h, msg, chunk).toString('hex')).toBe(
      'c96b164b13205dbe8fc1abcd670d7875108f7c31acaedc5773d824e60e72ad7f',
    );
  });
});
