// Member networks (issue 18): the Addresses body is checked like any peer input, each member is asked
// over the forward link at a bounded rate, and Status lists what is known.
import { describe, expect, it } from 'vitest';
import type { ForwardKind, ForwardSender } from '../../../src/rpc/forward-link.js';
import type { NodeStatus } from '../../../src/rpc/executor.js';
import { decodeNetworks, encodeNetworks, MemberNetworks } from '../../../src/rpc/networks.js';

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

function status(ids: string[]): NodeStatus {
  return {
    id: 'n1',
    clusterId: 'c',
    leader: 'n1',
    leaderAddress: 'a:1',
    role: 'leader',
    term: 1,
    commitIndex: 1,
    appliedIndex: 1,
    ready: true,
    members: ids.map((id) => ({ id, address: `${id}:1`, role: 'follower', term: 1, commitIndex: 0, appliedIndex: 0 })),
  };
}

describe('Addresses body', () => {
  it('round-trips and refuses anything malformed or unbounded', () => {
    expect(decodeNetworks(encodeNetworks({ public: 'h:1' }))).toEqual({ public: 'h:1' });
    expect(decodeNetworks(new Uint8Array([0xff, 0x00]))).toBeNull();
    expect(decodeNetworks(enc({ networks: [] }))).toBeNull();
    expect(decodeNetworks(enc({ networks: { 'bad name': 'h:1' } }))).toBeNull();
    expect(decodeNetworks(enc({ networks: { p: 7 } }))).toBeNull();
    expect(decodeNetworks(enc({ networks: { p: 'x'.repeat(301) } }))).toBeNull();
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`n${i}`, 'h:1']));
    expect(decodeNetworks(enc({ networks: many }))).toBeNull();
  });
});

describe('MemberNetworks', () => {
  it('asks each peer once per interval, lists what it learnt, and retries a peer that did not answer', async () => {
    let t = 0;
    const asked: string[] = [];
    const sender: ForwardSender = {
      send: async (kind: ForwardKind, to: string) => {
        expect(kind).toBe('Addresses');
        asked.push(to);
        if (to === 'n3') throw new Error('down');
        return encodeNetworks({ public: `pub-${to}:1` });
      },
      close: () => undefined,
    };
    const book = new MemberNetworks({ selfId: 'n1', own: { public: 'pub-n1:1' }, sender, now: () => t });
    book.refresh(['n1', 'n2', 'n3']);
    book.refresh(['n1', 'n2', 'n3']); // in flight or just asked: not again
    await new Promise((r) => setImmediate(r));
    expect(asked).toEqual(['n2', 'n3']);
    const s = book.decorate(status(['n1', 'n2', 'n3']));
    expect(s.networks).toEqual([{ name: 'public', address: 'pub-n1:1' }]);
    expect(s.members.map((m) => m.networks)).toEqual([
      [{ name: 'public', address: 'pub-n1:1' }],
      [{ name: 'public', address: 'pub-n2:1' }],
      undefined,
    ]);
    t += 2_000; // n3 (no answer) is asked again; n2's entry is fresh for a minute
    book.refresh(['n1', 'n2', 'n3']);
    await new Promise((r) => setImmediate(r));
    t += 60_000;
    book.refresh(['n1', 'n2', 'n3']);
    await new Promise((r) => setImmediate(r));
    expect(asked).toEqual(['n2', 'n3', 'n3', 'n2', 'n3']);
  });
});
