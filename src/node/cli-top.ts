// `raftq top`: a live terminal view of the cluster — members with role, term and indexes, the
// leader, and the busiest queues with their counts, rates (from the replicated totals between two
// refreshes) and oldest waiting age. Refreshes every --interval-ms from each server's Status and
// the ListQueues read; bounded (--queues rows, per-call deadlines); exits on q, Ctrl-C, SIGINT /
// SIGTERM, or after --iterations refreshes (for scripts).
import { Command } from 'commander';
import type { Client } from '../client/client.js';
import { action, asList, cliOutput, intArg, serversOf, table, withCommon, type SetCode } from './cli-common.js';

interface QueueRow {
  queue: string;
  counts: Record<string, number>;
  totals: Record<string, number>;
  oldestMs: number | null;
  paused: boolean;
}

interface Frame {
  at: number;
  leader: string | null;
  term: number | null;
  members: (string | number | null)[][];
  queues: QueueRow[];
  error: string | null;
}

const num = (v: unknown): number => (Number.isFinite(Number(v)) ? Number(v) : 0);

async function sample(client: Client, servers: string[], timeoutMs: number): Promise<Frame> {
  const answers = await Promise.all(servers.map((a) => client.nodeStatus(a, { timeoutMs }).catch(() => null)));
  let leader: string | null = null;
  let term: number | null = null;
  const members = servers.map((address, i) => {
    const s = answers[i];
    if (!s) return [address, address, 'unreachable', null, null, null];
    if (typeof s['leader'] === 'string' && s['leader'] !== '' && num(s['term']) >= (term ?? -1)) {
      leader = s['leader'];
      term = num(s['term']);
    }
    return [String(s['id']), address, String(s['role']), num(s['term']), num(s['commitIndex']), num(s['appliedIndex'])];
  });
  let queues: QueueRow[] = [];
  let error: string | null = null;
  try {
    const reply = await client.query('ListQueues', {}, { timeoutMs });
    queues = asList(reply['queues']).map((q) => ({
      queue: String(q['queue']),
      counts: (q['counts'] ?? {}) as Record<string, number>,
      totals: (q['totals'] ?? {}) as Record<string, number>,
      oldestMs:
        q['oldestWaitingAgeMs'] === null || q['oldestWaitingAgeMs'] === undefined ? null : num(q['oldestWaitingAgeMs']),
      paused: (q['settings'] as Record<string, unknown> | null)?.['paused'] === true,
    }));
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  return { at: Date.now(), leader, term, members, queues, error };
}

/** One screen: members, then at most `queuesMax` queues (most waiting first) with rates since `prev`. */
export function renderTop(f: Frame, prev: Frame | null, queuesMax: number): string {
  const secs = prev ? Math.max(0.001, (f.at - prev.at) / 1000) : 0;
  const before = new Map((prev?.queues ?? []).map((q) => [q.queue, q]));
  const rate = (q: QueueRow, k: string): string => {
    const p = before.get(q.queue);
    return p && secs > 0 ? (Math.max(0, num(q.totals[k]) - num(p.totals[k])) / secs).toFixed(1) : '-';
  };
  const shown = [...f.queues]
    .sort((a, b) => num(b.counts['waiting']) - num(a.counts['waiting']) || a.queue.localeCompare(b.queue))
    .slice(0, queuesMax);
  const rows = shown.map((q) => [
    q.queue + (q.paused ? ' (paused)' : ''),
    num(q.counts['waiting']),
    num(q.counts['delayed']),
    num(q.counts['leased']),
    num(q.counts['dead']),
    rate(q, 'enqueued'),
    rate(q, 'completed'),
    rate(q, 'failed'),
    q.oldestMs === null ? '-' : `${(q.oldestMs / 1000).toFixed(1)}s`,
  ]);
  const more = f.queues.length > shown.length ? `(${f.queues.length - shown.length} more queues)\n` : '';
  return (
    `raftq top  ${new Date(f.at).toISOString()}  leader: ${f.leader ?? 'none'}  term: ${f.term ?? '-'}  (q to quit)\n\n` +
    table(['NODE', 'ADDRESS', 'ROLE', 'TERM', 'COMMIT', 'APPLIED'], f.members) +
    '\n' +
    (f.error !== null
      ? `queues: ${f.error}\n`
      : table(['QUEUE', 'WAITING', 'DELAYED', 'LEASED', 'DEAD', 'ENQ/S', 'DONE/S', 'FAIL/S', 'OLDEST'], rows) + more)
  );
}

/** Resolves on q / Ctrl-C typed on stdin, or SIGINT / SIGTERM; `done()` removes every listener. */
function quitSignal(): { quit: Promise<void>; done(): void } {
  let resolve: () => void = () => {};
  const quit = new Promise<void>((r) => (resolve = r));
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  const onData = (b: Buffer): void => {
    if (b.includes(0x71) || b.includes(0x51) || b.includes(0x03)) resolve();
  };
  const onSignal = (): void => resolve();
  if (raw) stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.on('error', () => undefined);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    quit,
    done: () => {
      stdin.off('data', onData);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

interface TopFlags {
  intervalMs?: string;
  iterations?: string;
  queues?: string;
}

export function topCommand(setCode: SetCode): Command {
  return withCommon(new Command('top'))
    .description('a live view of the cluster: members, leader, queues and their rates (q or Ctrl-C quits)')
    .option('--interval-ms <ms>', 'time between refreshes', '1000')
    .option('--iterations <n>', 'stop after this many refreshes')
    .option('--queues <n>', 'most queues shown', '20')
    .action(
      action(setCode, async (client, o) => {
        const flags = o as TopFlags;
        const interval = intArg('--interval-ms', flags.intervalMs, 100) ?? 1000;
        const iterations = intArg('--iterations', flags.iterations, 1);
        const queuesMax = intArg('--queues', flags.queues, 1) ?? 20;
        const servers = serversOf(o);
        const tty = process.stdout.isTTY === true;
        const { quit, done } = quitSignal();
        let stop = false;
        void quit.then(() => (stop = true));
        let prev: Frame | null = null;
        try {
          for (let i = 0; !stop && (iterations === undefined || i < iterations); i++) {
            if (i > 0) await Promise.race([quit, new Promise((r) => setTimeout(r, interval).unref())]);
            if (stop) break;
            const f = await sample(client, servers, Math.max(500, Math.min(interval, 5_000)));
            cliOutput.out((tty ? '\x1b[H\x1b[2J' : i > 0 ? '\n' : '') + renderTop(f, prev, queuesMax));
            prev = f;
          }
        } finally {
          done();
        }
        return prev?.members.every((m) => m[2] === 'unreachable') ? 1 : 0;
      }),
    );
}
