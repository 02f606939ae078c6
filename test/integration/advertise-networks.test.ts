// Issue 18: a node advertises a client address per client network (`--advertise
// default,public=host:port`), the nodes learn each other's over the peer port, and an SDK client that
// names its network follows hints and members to the addresses of that network. Here the default
// addresses lead nowhere (closed ports), the `public` ones are the real client ports.
import { describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { GrpcTransport } from '../../src/client/grpc-transport.js';
import type { Message, Method, Transport } from '../../src/client/transport.js';
import type { LocalNodeSpec } from '../../src/node/local-cluster.js';
import { waitFor, waitForLeader } from './helpers.js';
import { clusterPerFile } from '../support/cluster.js';

/** Nothing listens on ports 1..3 of the loopback: a connection there is refused at once. */
const closed = (spec: LocalNodeSpec): string => `127.0.0.1:${Number(spec.id.replace(/\D/g, '')) || 1}`;

const fx = clusterPerFile(3, {
  perNode: (spec) => ({ args: ['--advertise', `${closed(spec)},public=127.0.0.1:${spec.clientPort}`] }),
});

/** The gRPC transport, recording every address dialled. */
class Recording implements Transport {
  readonly dialled = new Set<string>();
  private readonly inner = new GrpcTransport();
  call(address: string, method: Method, request: Message, timeoutMs: number, signal?: AbortSignal) {
    this.dialled.add(address);
    return this.inner.call(address, method, request, timeoutMs, signal);
  }
  stream(...args: Parameters<Transport['stream']>) {
    this.dialled.add(args[0]);
    return this.inner.stream(...args);
  }
  close(): void {
    this.inner.close();
  }
}

describe('--advertise per client network', () => {
  it('every node lists each member on each network; a client on `public` follows hints there', async () => {
    const c = fx.tc.cluster;
    const leader = await waitForLeader(c);
    const follower = c.specs.find((s) => s.id !== leader) as LocalNodeSpec;
    // The follower learns the other members' named addresses over the peer port; its client Status lists them.
    const probe = fx.track(new GrpcTransport());
    const st = await waitFor(
      async () => {
        const s = (await probe
          .call(`127.0.0.1:${follower.clientPort}`, 'Status', {}, 2_000)
          .catch(() => null)) as unknown as {
          members: { id: string; address: string; networks?: { name: string; address: string }[] }[];
          networks?: { name: string; address: string }[];
        } | null;
        // Members' default addresses are bound into the membership by the leader a few ticks after start.
        const known = (m: { address: string; networks?: unknown[] }): boolean =>
          m.address !== '' && (m.networks ?? []).length === 1;
        return s !== null && s.members.length === 3 && s.members.every(known) ? s : undefined;
      },
      20_000,
      'the follower to know every member on the public network',
      100,
    );
    expect(st.networks).toEqual([{ name: 'public', address: `127.0.0.1:${follower.clientPort}` }]);
    for (const m of st.members) {
      const spec = c.spec(m.id);
      expect(m.address).toBe(closed(spec));
      expect(m.networks).toEqual([{ name: 'public', address: `127.0.0.1:${spec.clientPort}` }]);
    }

    // Only the follower is listed: the leader is found through its Status and hints, on `public`.
    const transport = new Recording();
    const client = fx.track(
      new Client({ servers: [`127.0.0.1:${follower.clientPort}`], network: 'public', transport, timeoutMs: 10_000 }),
    );
    const q = client.queue('nets');
    for (let i = 0; i < 5; i++) await q.enqueue({ i });
    expect(client.leaderAddress).toBe(`127.0.0.1:${c.spec(leader).clientPort}`);
    for (const s of c.specs) expect(transport.dialled).not.toContain(closed(s));
    await client.close();
  });

  it('a client that names no network is told the default addresses (the control)', async () => {
    const c = fx.tc.cluster;
    const leader = await waitForLeader(c);
    const follower = c.specs.find((s) => s.id !== leader) as LocalNodeSpec;
    const transport = new Recording();
    const client = fx.track(
      new Client({ servers: [`127.0.0.1:${follower.clientPort}`], transport, timeoutMs: 10_000 }),
    );
    // Served through the follower's forwarding, but the leader it names is at a closed port.
    for (let i = 0; i < 3; i++) await client.queue('nets').enqueue({ i });
    expect(transport.dialled).toContain(closed(c.spec(leader)));
    await client.close();
  });
});
