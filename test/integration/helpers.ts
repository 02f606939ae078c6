// Shared helpers for integration tests with real node processes on loopback.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster, waitFor, type LocalClusterOptions } from '../../src/node/local-cluster.js';
import type { NodeStatus } from '../../src/rpc/executor.js';

export { waitFor };

export interface TestCluster {
  cluster: LocalCluster;
  dir: string;
  /** Lines each node printed (stderr and stdout), for assertions on log lines. */
  lines: Map<string, string[]>;
  exits: { id: string; code: number | null; signal: string | null }[];
  cleanup(): Promise<void>;
}

export async function startCluster(nodes: number, opts: Partial<LocalClusterOptions> = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'raftq-it-'));
  const lines = new Map<string, string[]>();
  const exits: TestCluster['exits'] = [];
  const cluster = await LocalCluster.create({
    nodes,
    dir,
    logLevel: 'info',
    heartbeatMs: 50,
    electionTicks: 10,
    ...opts,
    onLine: (id, line) => {
      let l = lines.get(id);
      if (!l) lines.set(id, (l = []));
      l.push(line);
      if (l.length > 5000) l.splice(0, 1000);
    },
    onExit: (id, code, signal) => exits.push({ id, code, signal }),
  });
  cluster.startAll();
  return {
    cluster,
    dir,
    lines,
    exits,
    async cleanup() {
      await cluster.stopAll(5_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function httpJson<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) });
  if (!res.ok) throw new Error(`GET ${path} -> ${res.status}`);
  return (await res.json()) as T;
}

export async function statusOf(c: LocalCluster, id: string): Promise<NodeStatus | null> {
  if (!c.running(id)) return null;
  try {
    return await httpJson<NodeStatus>(c.spec(id).httpPort, '/status');
  } catch {
    return null;
  }
}

/** Waits until exactly one running node leads and every running node knows it and is ready. */
export async function waitForLeader(c: LocalCluster, ms = 20_000, exclude: string | null = null): Promise<string> {
  return waitFor(
    async () => {
      const all = await Promise.all(c.specs.filter((s) => c.running(s.id)).map((s) => statusOf(c, s.id)));
      const leaders = all.filter((s) => s?.role === 'leader');
      if (leaders.length !== 1 || !leaders[0] || leaders[0].id === exclude) return undefined;
      const id = leaders[0].id;
      return all.every((s) => s && s.leader === id && s.ready) ? id : undefined;
    },
    ms,
    'one leader known to every running node',
  );
}

export async function digestsOf(c: LocalCluster, id: string): Promise<Map<number, string>> {
  const list = await httpJson<{ index: number; digest: string }[]>(c.spec(id).httpPort, '/debug/digests');
  return new Map(list.map((d) => [d.index, d.digest]));
}

/** Compares every pair of nodes at their common digest indexes; returns how many indexes were compared. */
export async function assertDigestsAgree(c: LocalCluster, ids: string[]): Promise<number> {
  const maps = await Promise.all(ids.map((id) => digestsOf(c, id)));
  let compared = 0;
  for (let a = 0; a < maps.length; a++) {
    for (let b = a + 1; b < maps.length; b++) {
      for (const [index, d] of maps[a] as Map<number, string>) {
        const other = (maps[b] as Map<number, string>).get(index);
        if (other === undefined) continue;
        compared++;
        if (other !== d) throw new Error(`digest mismatch at ${index}: ${ids[a]}=${d} ${ids[b]}=${other}`);
      }
    }
  }
  return compared;
}
