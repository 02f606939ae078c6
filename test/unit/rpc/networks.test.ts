// Member networks (issue 18): the Addresses body is checked like any peer input, each member is asked
// over the forward link at a bounded rate, and Status lists what is known.
import { afterEach, describe, expect, it, vi } from 'vitest';
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
  afterEach(() => vi.useRealTimers());

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
  it('polls every 2 s while an entry is missing, then every 10 s, and stops', async () => {
    vi.useFakeTimers();
    let t = 0;
    let down = true;
    const asked: number[] = [];
    const sender: ForwardSender = {
      send: async () => {
        asked.push(t);
        if (down) throw new Error('down');
        return encodeNetworks({ public: 'pub-n2:1' });
      },
      close: () => undefined,
    };
    const book = new MemberNetworks({ selfId: 'n1', own: {}, sender, now: () => t, refreshMs: 20_000 });
    book.start(() => ['n1', 'n2']);
    const advance = async (ms: number): Promise<void> => {
      for (let left = ms; left > 0; left -= 1_000) {
        t += 1_000;
        await vi.advanceTimersByTimeAsync(1_000);
      }
    };
    await advance(4_000); // missing: asked at 2 s and 4 s
    down = false;
    await advance(2_000); // asked at 6 s, learnt after that check: one more 2 s check (8 s) finds it known
    await advance(30_000); // known: checks at 18 s and 28 s; only the second finds the entry 20 s old
    expect(asked).toEqual([2_000, 4_000, 6_000, 28_000]);
    book.stop();
    await advance(60_000);
    expect(asked).toHaveLength(4);
  });
});
