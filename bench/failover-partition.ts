// The partition faults of `npm run bench -- failover` (issue 18): a 3-node cluster of real `raftq start`
// processes whose every peer link `a -> b` and every client link runs through its own TCP fault proxy,
// as the jepsen-like suite does (test/jepsen-like/lib/fault-proxy.ts): each node dials its peers'
// proxies (`--peers`) and advertises its client proxy (`--advertise`), so NOT_LEADER hints and the
// members a Status lists go through the proxies too. Only 127.0.0.1; no root, no iptables.
//   partition  the leader cut off from its peers (black hole both ways); clients still reach it, so
//              calls sent to it hang until the SDK's per-attempt deadline sends them elsewhere;
//   isolate    the leader cut off from its peers and from the clients.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from './sdk.js';
import { LocalCluster, waitFor } from '../src/node/local-cluster.js';
import { FaultNetwork } from '../test/jepsen-like/lib/fault-proxy.js';
import { payload, stopCluster, type Cluster } from './e2e.js';

export type PartitionFault = 'partition' | 'isolate';

export interface ProxiedCluster extends Cluster {
  /** Peer links node -> node. */
  peers: FaultNetwork;
  /** Client links 'client' -> node. */
  clients: FaultNetwork;
  /** The client proxies' addresses, one per node (what clients are given, and what nodes advertise). */
  servers: string[];
  /** The node cut off now, if any (its links are reset at the heal). */
  cut: string | null;
}

export async function startProxiedCluster(): Promise<ProxiedCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'raftq-bench-part-'));
  const args = new Map<string, string[]>();
  const cluster = await LocalCluster.create({
    nodes: 3,
    dir,
    logLevel: 'warn',
    perNode: (spec) => ({ args: args.get(spec.id) ?? [] }),
  });
  const peers = new FaultNetwork();
  const clients = new FaultNetwork();
  const servers: string[] = [];
  for (const from of cluster.specs) {
    const parts: string[] = [];
    for (const to of cluster.specs) {
      const target = `127.0.0.1:${to.peerPort}`;
      parts.push(`${to.id}=${to.id === from.id ? target : await peers.link(from.id, to.id, target)}`);
    }
    const clientProxy = await clients.link('client', from.id, `127.0.0.1:${from.clientPort}`);
    servers.push(clientProxy);
    // The last --peers wins: the proxies replace the direct peer addresses LocalCluster passes.
    args.set(from.id, ['--peers', parts.join(','), '--advertise', clientProxy]);
  }
  cluster.startAll();
  const client = new Client({ servers, timeoutMs: 30_000 });
  await client.queue('warmup').enqueue(payload(0));
  await client.close();
  return { cluster, dir, peers, clients, servers, cut: null };
}

export async function stopProxiedCluster(c: ProxiedCluster): Promise<void> {
  await stopCluster(c);
  await c.peers.close();
  await c.clients.close();
}

/** Cuts the leader off: from its peers, and for `isolate` from the clients too. Synchronous: it holds at once. */
export function partition(c: ProxiedCluster, leader: string, fault: PartitionFault): void {
  c.cut = leader;
  c.peers.isolate(leader);
  if (fault === 'isolate') c.clients.isolate(leader);
}

/**
 * Heals the links. The connections the black hole swallowed bytes of are reset first (as their TCP
 * keepalives would, later): nodes and clients reconnect on clean streams, so the next trial starts
 * from a settled cluster rather than waiting out dead connections.
 */
export function heal(c: ProxiedCluster): void {
  if (c.cut !== null) {
    c.peers.isolate(c.cut, { kind: 'reset' });
    c.clients.isolate(c.cut, { kind: 'reset' });
  }
  c.cut = null;
  c.peers.heal();
  c.clients.heal();
}

async function statusOf(port: number): Promise<{ role: string; leader: string | null; term: number } | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(500) });
    return (await r.json()) as { role: string; leader: string | null; term: number };
  } catch {
    return null;
  }
}

/** After a heal: every node names the same leader, which says it leads (so a trial starts settled). */
export async function settledLeader(c: Cluster, ms = 60_000): Promise<string> {
  return waitFor(
    async () => {
      const all = await Promise.all(c.cluster.specs.map((s) => statusOf(s.httpPort)));
      const leader = all[0]?.leader ?? null;
      if (leader === null || !all.every((s) => s !== null && s.leader === leader)) return undefined;
      const i = c.cluster.specs.findIndex((s) => s.id === leader);
      return all[i]?.role === 'leader' ? leader : undefined;
    },
    ms,
    'every node to name the same leader',
    50,
  );
}
