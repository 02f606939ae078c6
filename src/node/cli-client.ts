// The client subcommands of `raftq` (status, enqueue, worker, tasks, queues, dlq, events, members).
// Each talks to the servers of --servers / RAFTQ_SERVERS through the SDK. Usage errors (bad options,
// malformed JSON, a bad server address) print one line and exit 2; failures exit 1.
import { spawn } from 'node:child_process';
import { Command, Option } from 'commander';
import { Client } from '../client/client.js';
import { InvalidArgumentError, RaftqError } from '../client/errors.js';
import type { EnqueueOptions, Task } from '../client/queue.js';
import type { WorkerTask } from '../client/worker.js';
import { TASK_STATES, type TaskState } from '../protocol/commands.js';

export class ClientUsageError extends Error {}

interface Common {
  servers?: string;
  json?: boolean;
  timeoutMs?: string;
}

/** Output sinks, replaceable in tests. */
export const cliOutput = {
  out: (s: string): void => void process.stdout.write(s),
  err: (s: string): void => void process.stderr.write(s),
  stdin: async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  },
};

function serversOf(o: Common): string[] {
  const raw = o.servers ?? process.env['RAFTQ_SERVERS'];
  if (raw === undefined || raw.trim() === '')
    throw new ClientUsageError('no servers: pass --servers or set RAFTQ_SERVERS');
  const list = raw.split(',').map((s) => s.trim());
  for (const s of list) {
    const port = Number(s.slice(s.lastIndexOf(':') + 1));
    if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(s) || port < 1 || port > 65535) {
      throw new ClientUsageError(`bad server address ${JSON.stringify(s)}: expected host:port`);
    }
  }
  return list;
}

function intArg(name: string, v: string | undefined, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min)
    throw new ClientUsageError(`${name}: ${JSON.stringify(v)} is not an integer ≥ ${min}`);
  return n;
}

function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ClientUsageError(`${what}: malformed JSON`);
  }
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('--servers <list>', 'client addresses host:port,… (default: $RAFTQ_SERVERS)')
    .option('--json', 'machine-readable output')
    .option('--timeout-ms <ms>', 'deadline per call, retries included');
}

/** Runs an action with a Client, mapping errors to exit codes; never throws past commander. */
function action<A extends unknown[]>(
  setCode: (c: number) => void,
  body: (client: Client, o: Common, ...args: A) => Promise<number | void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const o = cmd.optsWithGlobals<Common>();
    let client: Client | null = null;
    try {
      const timeoutMs = intArg('--timeout-ms', o.timeoutMs, 1);
      client = new Client({ servers: serversOf(o), ...(timeoutMs === undefined ? {} : { timeoutMs }) });
      const code = await body(client, o, ...(args.slice(0, -2) as A));
      setCode(code ?? 0);
    } catch (e) {
      const usage = e instanceof ClientUsageError || e instanceof InvalidArgumentError;
      cliOutput.err(`raftq: ${e instanceof Error ? e.message : String(e)}\n`);
      setCode(usage ? 2 : 1);
    } finally {
      await client?.close({ timeoutMs: 10_000 }).catch(() => undefined);
    }
  };
}

function print(o: Common, json: unknown, text: () => string): void {
  cliOutput.out(o.json ? `${JSON.stringify(json, jsonBytes)}\n` : text());
}

/** Bytes in JSON output: UTF-8 text when printable, else base64. */
function jsonBytes(_k: string, v: unknown): unknown {
  if (v instanceof Uint8Array || (typeof v === 'object' && v !== null && (v as { type?: string }).type === 'Buffer')) {
    const b = Buffer.from(v instanceof Uint8Array ? v : ((v as { data: number[] }).data ?? []));
    const s = b.toString('utf8');
    return /^[\x20-\x7e\s]*$/.test(s) ? s : { base64: b.toString('base64') };
  }
  return v;
}

function table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return (
    cells
      .map((r) =>
        r
          .map((c, i) => (c ?? '').padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

// ---- status / members ----

interface MemberRow {
  id: string;
  address: string;
  role: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
}

async function clusterStatus(
  client: Client,
  servers: string[],
): Promise<{ leader: string | null; members: MemberRow[] }> {
  const answers = await Promise.all(servers.map((a) => client.nodeStatus(a, { timeoutMs: 3_000 }).catch(() => null)));
  const known = new Map<string, string>(); // address -> id, from any reachable node's membership
  for (const s of answers) for (const m of asList(s?.['members'])) known.set(String(m['address']), String(m['id']));
  let leader: string | null = null;
  let leaderTerm = -1;
  const members: MemberRow[] = servers.map((address, i) => {
    const s = answers[i];
    if (s === null || s === undefined) {
      return {
        id: known.get(address) ?? address,
        address,
        role: 'unreachable',
        term: 0,
        commitIndex: 0,
        appliedIndex: 0,
      };
    }
    const term = Number(s['term'] ?? 0);
    if (typeof s['leader'] === 'string' && s['leader'] !== '' && term > leaderTerm) {
      leader = s['leader'];
      leaderTerm = term;
    }
    return {
      id: String(s['id']),
      address,
      role: String(s['role']),
      term,
      commitIndex: Number(s['commitIndex'] ?? 0),
      appliedIndex: Number(s['appliedIndex'] ?? 0),
    };
  });
  return { leader, members };
}

function asList(v: unknown): Array<Record<string, unknown>> {
  return Array.isArray(v) ? (v as Array<Record<string, unknown>>) : [];
}

function statusCommand(setCode: (c: number) => void): Command {
  return withCommon(new Command('status'))
    .description("every server's view: role, term, commit and applied index")
    .action(
      action(setCode, async (client, o) => {
        const st = await clusterStatus(client, serversOf(o));
        print(o, st, () => {
          const rows = st.members.map((m) => [m.id, m.address, m.role, m.term, m.commitIndex, m.appliedIndex]);
          return `leader: ${st.leader ?? 'none'}\n${table(['ID', 'ADDRESS', 'ROLE', 'TERM', 'COMMIT', 'APPLIED'], rows)}`;
        });
        return st.members.every((m) => m.role === 'unreachable') ? 1 : 0;
      }),
    );
}

function membersCommand(setCode: (c: number) => void): Command {
  return withCommon(new Command('members'))
    .description('the cluster membership as the leader (or the first reachable node) sees it')
    .action(
      action(setCode, async (client, o) => {
        const servers = serversOf(o);
        const answers = await Promise.all(
          servers.map((a) => client.nodeStatus(a, { timeoutMs: 3_000 }).catch(() => null)),
        );
        const view = answers.find((s) => s?.['role'] === 'leader') ?? answers.find((s) => s !== null);
        if (view === null || view === undefined)
          throw new RaftqError({ code: 'UNAVAILABLE', message: 'no server reachable' });
        const members = asList(view['members']);
        print(o, { from: view['id'], members }, () =>
          table(
            ['ID', 'ADDRESS', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'MATCH'],
            members.map((m) => [
              String(m['id']),
              String(m['address']),
              String(m['role']),
              Number(m['term']),
              Number(m['commitIndex']),
              Number(m['appliedIndex']),
              m['matchIndex'] === undefined ? null : Number(m['matchIndex']),
            ]),
          ),
        );
      }),
    );
}

// ---- enqueue ----

interface EnqueueFlags extends Common {
  priority?: string;
  delayMs?: string;
  runAt?: string;
  maxAttempts?: string;
  maxDeliveries?: string;
  leaseMs?: string;
  ttlMs?: string;
  idempotencyKey?: string;
  group?: string;
  header?: string[];
  raw?: boolean;
}

function enqueueOptions(f: EnqueueFlags): EnqueueOptions {
  const o: EnqueueOptions = {};
  const set = <K extends keyof EnqueueOptions>(k: K, v: EnqueueOptions[K] | undefined): void => {
    if (v !== undefined) o[k] = v;
  };
  set('priority', f.priority === undefined ? undefined : Number(f.priority));
  if (o.priority !== undefined && !Number.isInteger(o.priority))
    throw new ClientUsageError('--priority: not an integer');
  set('delayMs', intArg('--delay-ms', f.delayMs));
  if (f.runAt !== undefined) {
    const t = /^\d+$/.test(f.runAt) ? Number(f.runAt) : Date.parse(f.runAt);
    if (!Number.isFinite(t)) throw new ClientUsageError('--run-at: expected epoch ms or an ISO date');
    o.runAt = t;
  }
  set('maxAttempts', intArg('--max-attempts', f.maxAttempts, 1));
  set('maxDeliveries', intArg('--max-deliveries', f.maxDeliveries, 1));
  set('leaseMs', intArg('--lease-ms', f.leaseMs, 1));
  set('ttlMs', intArg('--ttl-ms', f.ttlMs, 1));
  set('idempotencyKey', f.idempotencyKey);
  set('group', f.group);
  if (f.header !== undefined && f.header.length > 0) {
    const headers: Record<string, string> = {};
    for (const h of f.header) {
      const i = h.indexOf('=');
      if (i <= 0) throw new ClientUsageError(`--header: ${JSON.stringify(h)} is not key=value`);
      headers[h.slice(0, i)] = h.slice(i + 1);
    }
    o.headers = headers;
  }
  return o;
}

function enqueueCommand(setCode: (c: number) => void): Command {
  return withCommon(new Command('enqueue'))
    .description('enqueue one task; PAYLOAD is JSON, or read from stdin when "-" or absent')
    .argument('<queue>')
    .argument('[payload]')
    .option('--priority <n>')
    .option('--delay-ms <ms>')
    .option('--run-at <time>', 'epoch ms or ISO date')
    .option('--max-attempts <n>')
    .option('--max-deliveries <n>')
    .option('--lease-ms <ms>')
    .option('--ttl-ms <ms>')
    .option('--idempotency-key <key>')
    .option('--group <group>')
    .option('--header <key=value>', 'a task header (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--raw', 'send the payload bytes as they are instead of parsing JSON')
    .action(
      action(setCode, async (client, o, queue: string, payloadArg: string | undefined) => {
        const f = o as EnqueueFlags;
        const options = enqueueOptions(f);
        const text = payloadArg === undefined || payloadArg === '-' ? await cliOutput.stdin() : Buffer.from(payloadArg);
        const payload = f.raw ? new Uint8Array(text) : parseJson('payload', text.toString('utf8'));
        const r = await client.queue(queue).enqueue(payload, options);
        print(o, r, () => `${r.id}${r.deduplicated ? ' (deduplicated)' : ''}\n`);
      }),
    );
}

// ---- worker --exec ----

interface WorkerFlags extends Common {
  exec: string;
  concurrency?: string;
  leaseMs?: string;
  maxHoldMs?: string;
}

/** Runs `command` for one task: payload on stdin, token in the environment; killed on abort. */
export function runChild(
  command: string,
  task: WorkerTask<unknown>,
  token: string,
  signal: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      env: {
        ...process.env,
        RAFTQ_FENCING_TOKEN: token,
        RAFTQ_TASK_ID: task.id,
        RAFTQ_QUEUE: task.queue,
        RAFTQ_ATTEMPT: String(task.attempts + 1),
      },
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
    // The belief deadline passed (or shutdown): kill the whole group we started, by its pid.
    const kill = (): void => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
    };
    if (signal.aborted) kill();
    signal.addEventListener('abort', kill, { once: true });
    child.on('error', (e) => reject(e));
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', kill);
      if (code === 0) resolve(Buffer.concat(out).toString('utf8').trim());
      else
        reject(
          new Error(sig ? `killed by ${sig}` : `exit code ${code}${err ? `: ${err.trim().split('\n').pop()}` : ''}`),
        );
    });
    child.stdin.on('error', () => undefined);
    const p = task.payload;
    child.stdin.end(p instanceof Uint8Array ? Buffer.from(p) : typeof p === 'string' ? p : JSON.stringify(p));
  });
}

function workerCommand(setCode: (c: number) => void, stop: () => Promise<void>): Command {
  return withCommon(new Command('worker'))
    .description('run a shell command per task: payload on stdin, token in RAFTQ_FENCING_TOKEN; exit 0 acks')
    .argument('<queue>')
    .requiredOption('--exec <command>', 'shell command to run per task')
    .option('--concurrency <n>', 'tasks at once', '1')
    .option('--lease-ms <ms>')
    .option('--max-hold-ms <ms>')
    .action(
      action(setCode, async (client, o, queue: string) => {
        const f = o as WorkerFlags;
        const opts: Record<string, number> = { concurrency: intArg('--concurrency', f.concurrency, 1) ?? 1 };
        const leaseMs = intArg('--lease-ms', f.leaseMs, 1);
        if (leaseMs !== undefined) opts['leaseMs'] = leaseMs;
        const maxHoldMs = intArg('--max-hold-ms', f.maxHoldMs, 0);
        if (maxHoldMs !== undefined) opts['maxHoldMs'] = maxHoldMs;
        const worker = client.worker(queue, (task, ctx) => runChild(f.exec, task, ctx.token, ctx.signal), opts);
        const log = (line: Record<string, unknown>): void =>
          cliOutput.out(f.json ? `${JSON.stringify(line)}\n` : `${Object.values(line).join(' ')}\n`);
        worker.on('completed', (t: WorkerTask<unknown>) => log({ event: 'completed', id: t.id }));
        worker.on('failed', (t: { id: string }, e: unknown) =>
          log({ event: 'failed', id: t.id, error: e instanceof Error ? e.message : String(e) }),
        );
        worker.on('error', (e: unknown) =>
          cliOutput.err(`raftq worker: ${e instanceof Error ? e.message : String(e)}\n`),
        );
        await stop();
        await worker.close({ timeoutMs: 10_000 });
      }),
    );
}

// ---- tasks / queues / dlq / events ----

function taskRow(t: Task<unknown>): Array<string | number | undefined> {
  return [
    t.id,
    t.queue,
    t.state,
    t.priority,
    t.attempts,
    t.lastError,
    JSON.stringify(t.payload, jsonBytes)?.slice(0, 60),
  ];
}
const TASK_HEADERS = ['ID', 'QUEUE', 'STATE', 'PRIORITY', 'ATTEMPTS', 'LAST ERROR', 'PAYLOAD'];

function stateArg(v: string | undefined): TaskState {
  const s = (v ?? 'waiting') as TaskState;
  if (!TASK_STATES.includes(s)) throw new ClientUsageError(`--state: one of ${TASK_STATES.join(', ')}`);
  return s;
}

function tasksCommand(setCode: (c: number) => void): Command {
  const tasks = new Command('tasks').description('read and manage tasks');
  tasks.addCommand(
    withCommon(new Command('get'))
      .argument('<id>')
      .action(
        action(setCode, async (client, o, id: string) => {
          const t = await client.queue('_').get(id);
          print(o, t, () => table(TASK_HEADERS, [taskRow(t)]));
        }),
      ),
  );
  tasks.addCommand(
    withCommon(new Command('list'))
      .argument('<queue>')
      .addOption(new Option('--state <state>').default('waiting'))
      .option('--limit <n>')
      .option('--cursor <cursor>')
      .action(
        action(setCode, async (client, o, queue: string) => {
          const f = o as Common & { state?: string; limit?: string; cursor?: string };
          const opts: { state: TaskState; limit?: number; cursor?: string } = { state: stateArg(f.state) };
          const limit = intArg('--limit', f.limit, 1);
          if (limit !== undefined) opts.limit = limit;
          if (f.cursor !== undefined) opts.cursor = f.cursor;
          const page = await client.queue(queue).list(opts);
          print(
            o,
            page,
            () => table(TASK_HEADERS, page.items.map(taskRow)) + (page.nextCursor ? `next: ${page.nextCursor}\n` : ''),
          );
        }),
      ),
  );
  for (const verb of ['cancel', 'promote'] as const) {
    tasks.addCommand(
      withCommon(new Command(verb))
        .argument('<id>')
        .action(
          action(setCode, async (client, o, id: string) => {
            const q = client.queue('_');
            const state = verb === 'cancel' ? await q.cancel(id) : await q.promote(id);
            print(o, { id, state }, () => `${id} ${state}\n`);
          }),
        ),
    );
  }
  return tasks;
}

function queuesCommand(setCode: (c: number) => void): Command {
  const queues = new Command('queues').description('list and administer queues');
  queues.addCommand(
    withCommon(new Command('list')).action(
      action(setCode, async (client, o) => {
        const reply = await client.query('ListQueues', {});
        const list = asList(reply['queues']).map((q) => ({
          queue: String(q['queue']),
          counts: q['counts'] as Record<string, number>,
          paused: (q['settings'] as Record<string, unknown> | null)?.['paused'] === true,
        }));
        print(o, list, () =>
          table(
            ['QUEUE', 'WAITING', 'DELAYED', 'LEASED', 'COMPLETED', 'DEAD', 'CANCELLED', 'EXPIRED', 'PAUSED'],
            list.map((q) => [
              q.queue,
              ...['waiting', 'delayed', 'leased', 'completed', 'dead', 'cancelled', 'expired'].map(
                (s) => q.counts?.[s] ?? 0,
              ),
              q.paused ? 'yes' : 'no',
            ]),
          ),
        );
      }),
    ),
  );
  for (const verb of ['pause', 'resume'] as const) {
    queues.addCommand(
      withCommon(new Command(verb))
        .argument('<queue>')
        .action(
          action(setCode, async (client, o, queue: string) => {
            await (verb === 'pause' ? client.queue(queue).pause() : client.queue(queue).resume());
            print(o, { queue, [verb === 'pause' ? 'paused' : 'resumed']: true }, () => `${queue} ${verb}d\n`);
          }),
        ),
    );
  }
  queues.addCommand(
    withCommon(new Command('configure'))
      .argument('<queue>')
      .argument('<settings>', 'JSON object of queue settings, e.g. {"maxAttempts":3,"deadLetterQueue":"dlq"}')
      .option('--create', 'create the queue with these settings')
      .action(
        action(setCode, async (client, o, queue: string, settingsText: string) => {
          const settings = parseJson('settings', settingsText);
          if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
            throw new ClientUsageError('settings: expected a JSON object');
          }
          const q = client.queue(queue);
          await ((o as { create?: boolean }).create ? q.create(settings) : q.configure(settings));
          print(o, { queue, configured: true }, () => `${queue} configured\n`);
        }),
      ),
  );
  queues.addCommand(
    withCommon(new Command('delete'))
      .argument('<queue>')
      .option('--force', 'cancel its non-terminal tasks first')
      .action(
        action(setCode, async (client, o, queue: string) => {
          await client.queue(queue).delete({ force: (o as { force?: boolean }).force === true });
          print(o, { queue, deleted: true }, () => `${queue} deleted\n`);
        }),
      ),
  );
  return queues;
}

function dlqCommand(setCode: (c: number) => void): Command {
  const dlq = new Command('dlq').description('dead letters');
  dlq.addCommand(
    withCommon(new Command('list'))
      .argument('<queue>')
      .option('--limit <n>')
      .option('--cursor <cursor>')
      .action(
        action(setCode, async (client, o, queue: string) => {
          const f = o as Common & { limit?: string; cursor?: string };
          const opts: { limit?: number; cursor?: string } = {};
          const limit = intArg('--limit', f.limit, 1);
          if (limit !== undefined) opts.limit = limit;
          if (f.cursor !== undefined) opts.cursor = f.cursor;
          const page = await client.queue(queue).deadLetters(opts);
          print(o, page, () => table(TASK_HEADERS, page.items.map(taskRow)));
        }),
      ),
  );
  dlq.addCommand(
    withCommon(new Command('redrive'))
      .argument('<queue>')
      .option('--ids <ids>', 'comma-separated task ids (default: all)')
      .option('--to <queue>', 'target queue instead of each task’s source')
      .option('--max <n>')
      .action(
        action(setCode, async (client, o, queue: string) => {
          const f = o as Common & { ids?: string; to?: string; max?: string };
          const opts: { ids?: string[]; toQueue?: string; max?: number } = {};
          if (f.ids !== undefined) opts.ids = f.ids.split(',').map((s) => s.trim());
          if (f.to !== undefined) opts.toQueue = f.to;
          const max = intArg('--max', f.max, 1);
          if (max !== undefined) opts.max = max;
          const ids = await client.queue(queue).redrive(opts);
          print(o, { ids }, () => `${ids.length} redriven${ids.length > 0 ? `: ${ids.join(' ')}` : ''}\n`);
        }),
      ),
  );
  return dlq;
}

function eventsCommand(setCode: (c: number) => void, stop: () => Promise<void>): Command {
  return withCommon(new Command('events'))
    .description("follow a queue's task events (until Ctrl-C)")
    .argument('<queue>')
    .action(
      action(setCode, async (client, o, queue: string) => {
        const ac = new AbortController();
        void stop().then(() => ac.abort());
        for await (const e of client.queue(queue).events({ signal: ac.signal })) {
          print(
            o,
            e,
            () =>
              `${e.index} ${e.type} ${e.id} ${e.state}${e.token ? ` token=${e.token}` : ''}${e.reason ? ` (${e.reason})` : ''}\n`,
          );
        }
      }),
    );
}

/** Resolves on SIGINT / SIGTERM (long-running commands: worker, events). */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

/**
 * The client subcommands, for `src/node/cli.ts` to register. `setCode` receives the exit code;
 * `stop` (default: SIGINT / SIGTERM) ends the long-running ones.
 */
export function clientCommands(setCode: (c: number) => void, stop: () => Promise<void> = untilSignal): Command[] {
  const cmds = [
    statusCommand(setCode),
    membersCommand(setCode),
    enqueueCommand(setCode),
    workerCommand(setCode, stop),
    tasksCommand(setCode),
    queuesCommand(setCode),
    dlqCommand(setCode),
    eventsCommand(setCode, stop),
  ];
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  cmds.forEach(override);
  return cmds;
}
