// Helpers for the membership, backup and rolling-restart tests (issue 16): a cluster with room for
// more nodes than it starts with (founders dial only each other; a newcomer starts with --join),
// a bounded producer load that records every acknowledged enqueue, and the `raftq members` CLI.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '../../src/client/index.js';
import { LocalCluster, type LocalClusterOptions } from '../../src/node/local-cluster.js';
import { statusOf, waitFor, type TestCluster } from './helpers.js';
import { lostOrDuplicated, runRaftq, tasksByKey, type CliRun } from './node-helpers.js';

export interface GrowCluster extends TestCluster {
  founders: string[];
  admin(ids?: string[]): string;
  /** Starts a node that was not a founder with --join (the founders' admin addresses). */
  startJoiner(id: string, extra?: string[]): void;
}

/**
 * `total` node slots, the first `founders` started with --peers of the founders only; a joiner gets
 * --peers with itself only and --join with the founders' admin addresses.
 */
export async function startGrowable(
  total: number,
  founders: number,
  opts: Partial<LocalClusterOptions> = {},
): Promise<GrowCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'raftq-members-'));
  const lines = new Map<string, string[]>();
  const exits: TestCluster['exits'] = [];
  const joiners = new Map<string, string[]>();
  let cluster: LocalCluster | null = null;
  const c = await LocalCluster.create({
    nodes: total,
    dir,
    logLevel: 'info',
    heartbeatMs: 50,
    electionTicks: 10,
    ...opts,
    perNode: (spec) => {
      const all = (cluster as LocalCluster).specs;
      const extra = joiners.get(spec.id);
      // A joiner names only itself (its own peer address): it learns the others from the join answer.
      const peers = all
        .filter((s, i) => (extra === undefined && i < founders) || s.id === spec.id)
        .map((s) => `${s.id}=127.0.0.1:${s.peerPort}`)
        .join(',');
      const args = ['--peers', peers];
      if (extra) args.push('--join', adminOf(all.slice(0, founders).map((s) => s.id)), ...extra);
      // The caller's own per-node additions (e.g. a test hook's env) come on top.
      const more = opts.perNode?.(spec) ?? {};
      return { args: [...args, ...(more.args ?? [])], ...(more.env ? { env: more.env } : {}) };
    },
    onLine: (id, line) => {
      let l = lines.get(id);
      if (!l) lines.set(id, (l = []));
      l.push(line);
      if (l.length > 5000) l.splice(0, 1000);
    },
    onExit: (id, code, signal) => exits.push({ id, code, signal }),
  });
  cluster = c;
  const adminOf = (ids: string[]): string => ids.map((id) => `127.0.0.1:${c.spec(id).httpPort}`).join(',');
  const founderIds = c.specs.slice(0, founders).map((s) => s.id);
  for (const id of founderIds) c.start(id);
  return {
    cluster: c,
    dir,
    lines,
    exits,
    founders: founderIds,
    admin: (ids = c.specs.map((s) => s.id)) => adminOf(ids),
    startJoiner(id, extra = []) {
      joiners.set(id, extra);
      c.start(id);
    },
    async cleanup() {
      await c.stopAll(5_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `raftq members …` against the given admin addresses. */
export function members(tc: GrowCluster, args: string[], ms = 60_000): Promise<CliRun> {
  return runRaftq(['members', ...args, '--admin', tc.admin()], ms);
}

/** The membership as `id` sees it: [id, role] pairs, sorted. */
export async function membershipOf(c: LocalCluster, id: string): Promise<string[]> {
  const st = await statusOf(c, id);
  return (st?.members ?? []).map((m) => `${m.id}:${m.role === 'learner' ? 'learner' : 'voter'}`).sort();
}

/** Waits until every listed node sees exactly `expected` voters (and no learner). */
export async function waitVoters(c: LocalCluster, ids: string[], expected: string[], ms = 30_000): Promise<void> {
  const want = expected.map((id) => `${id}:voter`).sort();
  await waitFor(
    async () => {
      const views = await Promise.all(ids.map((id) => membershipOf(c, id)));
      return views.every((v) => JSON.stringify(v) === JSON.stringify(want)) ? true : undefined;
    },
    ms,
    `${ids.join(', ')} to see the voters ${expected.join(', ')}`,
  );
}

/**
 * Producers enqueueing distinct keys until stopped (bounded by `max`), recording each acknowledged
 * task id. A failed enqueue is counted (its outcome is unknown, so it is not in `acked`).
 */
export class Load {
  readonly acked = new Map<string, string>();
  failed = 0;
  private stopping = false;
  private readonly running: Promise<void>[];

  constructor(
    readonly client: Client,
    readonly queue: string,
    producers = 2,
    max = 20_000,
  ) {
    const q = client.queue<{ k: string }>(queue);
    this.running = Array.from({ length: producers }, async (_, p) => {
      for (let i = 0; i < max / producers && !this.stopping; i++) {
        const k = `p${p}-${i}`;
        try {
          this.acked.set(k, (await q.enqueue({ k })).id);
        } catch {
          this.failed++;
        }
      }
    });
  }

  /** Resolves once `n` more enqueues were acknowledged (the load makes progress). */
  async progress(n: number, ms = 30_000): Promise<void> {
    const target = this.acked.size + n;
    await waitFor(() => (this.acked.size >= target ? true : undefined), ms, `${n} more acknowledged enqueues`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  /** Acknowledged keys missing, or present other than once, in the queue's waiting tasks. */
  async lost(reader: Client): Promise<string[]> {
    return lostOrDuplicated(this.acked, await tasksByKey(reader, this.queue));
  }
}
