// Helpers for the node acceptance tests (issue #4) with real processes: running the raftq binary once,
// reading every task of a queue, waiting for replicas to apply, and finding log lines.
import { spawn } from 'node:child_process';
import { NotFoundError, type Client } from '../../src/client/index.js';
import { RAFTQ_BIN, type LocalCluster } from '../../src/node/local-cluster.js';
import { statusOf, waitFor, type TestCluster } from './helpers.js';

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `raftq <args>` (the real binary, compiled dist/) to its end; SIGKILLs it after `ms`. */
export function runRaftq(args: string[], ms = 20_000, env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RAFTQ_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, ms);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`raftq ${args.join(' ')} did not exit within ${ms} ms; stderr: ${stderr}`));
      else resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Every task id of a queue in the given states, paging through the list read, keyed by payload `k`. */
export async function tasksByKey(
  client: Client,
  queue: string,
  states: ('waiting' | 'delayed' | 'leased' | 'completed')[] = ['waiting'],
): Promise<Map<string, string[]>> {
  const q = client.queue<{ k: string }>(queue);
  const out = new Map<string, string[]>();
  for (const state of states) {
    let cursor: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const p = await q.list({ state, limit: 1000, ...(cursor ? { cursor } : {}) }).catch((err: unknown) => {
        // A queue that does not exist (any more) holds no task.
        if (err instanceof NotFoundError) return { items: [], nextCursor: null };
        throw err;
      });
      for (const t of p.items) out.set(t.payload.k, [...(out.get(t.payload.k) ?? []), t.id]);
      if (p.nextCursor === null) break;
      cursor = p.nextCursor;
    }
  }
  return out;
}

/** Acknowledged keys that are missing or present more than once (the id must be the acknowledged one). */
export function lostOrDuplicated(acked: Map<string, string>, found: Map<string, string[]>): string[] {
  const bad: string[] = [];
  for (const [k, id] of acked) {
    const ids = found.get(k) ?? [];
    if (ids.length !== 1 || ids[0] !== id) bad.push(`${k}: acknowledged ${id}, found [${ids.join(', ')}]`);
  }
  return bad;
}

/** Waits until every listed node has applied at least `index`. */
export async function waitApplied(c: LocalCluster, ids: string[], index: number, ms = 20_000): Promise<void> {
  await waitFor(
    async () => {
      const st = await Promise.all(ids.map((id) => statusOf(c, id)));
      return st.every((s) => s !== null && s.appliedIndex >= index) ? true : undefined;
    },
    ms,
    `${ids.join(', ')} applied ${index}`,
  );
}

/** Resolves with the first line of node `id` matching `re` (already printed or printed before the deadline). */
export function waitLine(tc: TestCluster, id: string, re: RegExp, ms = 20_000): Promise<string> {
  return waitFor(() => tc.lines.get(id)?.find((l) => re.test(l)), ms, `a log line of ${id} matching ${re}`);
}

/** Resolves with the exit record of node `id` after `after` exits were already recorded for it. */
export function waitExit(tc: TestCluster, id: string, after = 0, ms = 20_000): Promise<TestCluster['exits'][number]> {
  return waitFor(() => tc.exits.filter((e) => e.id === id)[after], ms, `node ${id} to exit`);
}
