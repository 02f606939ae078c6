// Cluster events reach the log at the default level (issue #15, docs/decisions.md): a leadership
// change, a peer lost (with the reason) and back, and an election after the leader dies — each one
// pino JSON object with the node id and the term. The cluster runs at the level a node gets when
// none is configured, read from the config resolver itself.
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/node/config.js';
import { clusterPerFile } from '../support/cluster.js';
import { waitFor, waitForLeader } from './helpers.js';

const defaultLevel = resolveConfig(
  { id: 'n1', listen: '127.0.0.1:7001', peerListen: '127.0.0.1:7101', peers: 'n1=127.0.0.1:7101', dataDir: '/tmp/x' },
  {},
).logLevel;
const fx = clusterPerFile(3, { logLevel: defaultLevel });

type Event = Record<string, unknown> & { msg: string; level: number; node: string };

/** A node's pino JSON lines from line `from` on. */
function events(id: string, from = 0): Event[] {
  const out: Event[] = [];
  for (const line of (fx.tc.lines.get(id) ?? []).slice(from)) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Event);
    } catch {
      // a line cut by the process dying
    }
  }
  return out;
}

async function logged(id: string, from: number, match: (e: Event) => boolean, what: string): Promise<Event> {
  return waitFor(async () => events(id, from).find(match), 10_000, what);
}

describe('cluster events in the log at the default level', () => {
  it('logs the leadership change on every node, with node id and term', async () => {
    for (const s of fx.tc.cluster.specs) {
      const e = await logged(s.id, 0, (e) => e.msg === 'leader changed' && e['leader'] === fx.leader, 'leader changed');
      expect(e.node).toBe(s.id);
      expect(e.level).toBe(30);
      expect(e['term']).toBeGreaterThan(0);
    }
    const won = events(fx.leader).find((e) => e.msg === 'role changed' && e['role'] === 'leader');
    expect(won?.['term']).toBeGreaterThan(0);
  });

  it('logs a peer lost with the reason, and back', async () => {
    const { cluster, lines } = fx.tc;
    const leader = fx.leader;
    const peer = cluster.specs.map((s) => s.id).find((id) => id !== leader) as string;
    const mark = lines.get(leader)?.length ?? 0;
    await cluster.kill(peer);
    const lost = await logged(leader, mark, (e) => e.msg === 'peer unreachable' && e['peer'] === peer, 'peer lost');
    expect(lost.level).toBe(40);
    expect(lost.node).toBe(leader);
    expect(typeof lost['reason']).toBe('string');
    expect(String(lost['reason'])).not.toBe('');
    expect(lost['term']).toBeGreaterThan(0);
    cluster.start(peer);
    const back = await logged(leader, mark, (e) => e.msg === 'peer reachable' && e['peer'] === peer, 'peer back');
    expect(back.level).toBe(30);
    await waitForLeader(cluster);
  });

  it('logs the election and the new leader after the leader dies', async () => {
    const { cluster, lines } = fx.tc;
    const old = await waitForLeader(cluster);
    const others = cluster.specs.map((s) => s.id).filter((id) => id !== old);
    const marks = new Map(others.map((id) => [id, lines.get(id)?.length ?? 0]));
    await cluster.kill(old);
    const next = await waitForLeader(cluster, 20_000, old);
    const e = await logged(
      next,
      marks.get(next) ?? 0,
      (e) => e.msg === 'leader changed' && e['leader'] === next,
      'new leader',
    );
    expect(e['term']).toBeGreaterThan(0);
    const elections = others.flatMap((id) => events(id, marks.get(id)).filter((e) => e.msg === 'election started'));
    expect(elections.length).toBeGreaterThan(0);
    const lostLeader = others.flatMap((id) =>
      events(id, marks.get(id)).filter((e) => e.msg === 'peer unreachable' && e['peer'] === old),
    );
    expect(lostLeader.length).toBeGreaterThan(0);
    // The same change, counted in the survivors' metrics.
    const text = await (await fetch(`http://127.0.0.1:${cluster.spec(next).httpPort}/metrics`)).text();
    expect(Number(/^raftq_raft_leader_changes_total (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
  });
});
