// The peer transport dialling through the jepsen-like fault proxy: partitions end in deadlines, not
// wedged channels, and delivery resumes after the heal (docs/faults.md P13, F3, F4).
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType } from '../../src/raft/types.js';
import type { Message } from '../../src/raft/types.js';
import { PeerServer } from '../../src/rpc/peer-server.js';
import { PeerTransport, type PeerTransportOptions } from '../../src/rpc/peer-transport.js';
import { FaultProxy } from '../jepsen-like/lib/fault-proxy.js';
import { message, waitFor } from '../unit/rpc/helpers.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** n1's transport dials n2's server through one proxy; fast deadlines and keepalives for the test. */
async function link(extra: Partial<PeerTransportOptions> = {}) {
  const inbox: Message[] = [];
  const server = await PeerServer.start({ address: '127.0.0.1:0', selfId: 'n2', onMessage: (m) => inbox.push(m) });
  cleanup.push(() => server.close(100));
  const proxy = await FaultProxy.start(server.address);
  cleanup.push(() => proxy.close());
  const status: boolean[] = [];
  const transport = new PeerTransport({
    selfId: 'n1',
    peers: new Map([['n2', proxy.address]]),
    deadlineMs: 400,
    keepaliveTimeMs: 300,
    keepaliveTimeoutMs: 300,
    reconnectBackoffInitialMs: 50,
    reconnectBackoffMaxMs: 200,
    onPeerStatus: (_peer, ok) => status.push(ok),
    ...extra,
  });
  cleanup.push(() => transport.close());
  let commit = 0;
  /** Sends one heartbeat, as the Raft leader would on every heartbeat tick. */
  const beat = (): void => {
    commit += 1;
    transport.send([message({ type: MessageType.Heartbeat, from: 'n1', to: 'n2', commit })]);
  };
  return { inbox, proxy, transport, status, beat };
}

describe('rpc - peer transport through the fault proxy', () => {
  it('a black-holed link ends calls at their deadline, and delivery resumes after the heal', async () => {
    const { inbox, proxy, transport, status, beat } = await link();
    beat();
    await waitFor(() => inbox.length === 1 && status.at(-1) === true, 'delivery before the partition');
    proxy.set({ kind: 'drop' });
    const before = inbox.length;
    await waitFor(() => {
      beat();
      return status.at(-1) === false;
    }, 'calls failing under the partition');
    expect(inbox.length).toBe(before);
    proxy.set({ kind: 'pass' });
    const healedAt = inbox.length;
    await waitFor(() => {
      beat();
      return inbox.length > healedAt;
    }, 'delivery after the heal');
    await waitFor(() => status.at(-1) === true, 'reachable again');
    expect(transport.metrics().peers['n2']?.failedCount).toBeGreaterThan(0);
  });

  it('a reset link fails fast and reconnects when the resets stop', async () => {
    const { inbox, proxy, status, beat } = await link();
    beat();
    await waitFor(() => inbox.length === 1, 'first delivery');
    proxy.set({ kind: 'reset' });
    await waitFor(() => {
      beat();
      return status.at(-1) === false;
    }, 'failures while connections are reset');
    proxy.set({ kind: 'pass' });
    const at = inbox.length;
    await waitFor(() => {
      beat();
      return inbox.length > at;
    }, 'delivery after the resets stop');
    expect(proxy.stats().resetCount).toBe(1);
  });

  it('lost acks: the peer gets the message, the sender sees a deadline (one-way delivery)', async () => {
    const { inbox, proxy, transport, beat } = await link();
    beat();
    await waitFor(() => transport.metrics().sentCount === 1, 'first call acknowledged');
    proxy.set({ kind: 'drop', direction: 'backward' });
    beat();
    await waitFor(() => inbox.length === 2, 'the request still arrives');
    await waitFor(() => transport.metrics().failedCount === 1, 'its ack never does');
    expect(transport.metrics().sentCount).toBe(1);
  });

  it('a delayed link delivers late but in order', async () => {
    const { inbox, proxy, beat } = await link();
    beat();
    await waitFor(() => inbox.length === 1, 'connected');
    proxy.set({ kind: 'delay', ms: 100 });
    const start = Date.now();
    for (let i = 0; i < 5; i += 1) beat();
    await waitFor(() => inbox.length === 6, 'delayed delivery');
    expect(Date.now() - start).toBeGreaterThanOrEqual(100);
    expect(inbox.map((m) => m.commit)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it.each(['both', 'forward', 'backward'] as const)(
    'a raw link cut mid-connection (%s) comes back raw: lost opening bytes are not an older peer',
    async (direction) => {
      const { inbox, proxy, transport, status, beat } = await link();
      beat();
      await waitFor(() => status.at(-1) === true, 'delivery before the partition');
      proxy.set({ kind: 'drop', direction });
      const accepted = proxy.stats().acceptedCount;
      // Connections opened under the black hole lose their opening bytes in one direction or both.
      await waitFor(() => {
        beat();
        return status.at(-1) === false && proxy.stats().acceptedCount > accepted + 1;
      }, 'connections reopened under the partition');
      proxy.set({ kind: 'pass' });
      const at = inbox.length;
      await waitFor(() => {
        beat();
        return inbox.length > at && status.at(-1) === true;
      }, 'delivery after the heal');
      expect(transport.metrics().peers['n2']?.stream).toBe('raw');
    },
  );

  it('a gRPC link whose reconnection was accepted into a black hole comes back after the heal', async () => {
    const { inbox, proxy, transport, status, beat } = await link({ rawStreams: false, connectTimeoutMs: 500 });
    beat();
    await waitFor(() => status.at(-1) === true, 'delivery before the partition');
    proxy.set({ kind: 'drop' });
    // Keepalive finds the connection dead and grpc-js redials: the proxy accepts, the preface is lost.
    await waitFor(() => {
      beat();
      return status.at(-1) === false && proxy.stats().acceptedCount >= 2;
    }, 'a reconnection under the partition');
    proxy.set({ kind: 'pass' });
    const at = inbox.length;
    await waitFor(
      () => {
        beat();
        return inbox.length > at;
      },
      'delivery after the heal',
      4_000,
    ); // before the peer port closes the silent connection (10 s)
    expect(transport.metrics().peers['n2']?.stream).toBe('grpc');
  });
});
