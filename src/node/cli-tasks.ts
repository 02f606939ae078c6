// `raftq enqueue` and `raftq tasks get|list|cancel|promote|retry|update`. Reads render any task
// (cli-render.ts): one odd payload never breaks a listing.
import { Command, Option } from 'commander';
import type { Client } from '../client/client.js';
import type { EnqueueOptions } from '../client/queue.js';
import { TASK_STATES, type AsOf, type TaskState } from '../protocol/commands.js';
import {
  action,
  ClientUsageError,
  cliOutput,
  confirm,
  intArg,
  parseJson,
  print,
  table,
  withCommon,
  withYes,
  type Common,
  type SetCode,
} from './cli-common.js';
import { renderTask, TASK_HEADERS, taskDetail, taskRow, type RenderedTask } from './cli-render.js';

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
  key?: string;
  cost?: string;
  id?: string;
}

function timeArg(name: string, v: string): number {
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw new ClientUsageError(`${name}: expected epoch ms or an ISO date`);
  return t;
}

function priorityArg(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new ClientUsageError('--priority: not an integer');
  return n;
}

function headersArg(list: string[] | undefined): Record<string, string> | undefined {
  if (list === undefined || list.length === 0) return undefined;
  const headers: Record<string, string> = {};
  for (const h of list) {
    const i = h.indexOf('=');
    if (i <= 0) throw new ClientUsageError(`--header: ${JSON.stringify(h)} is not key=value`);
    headers[h.slice(0, i)] = h.slice(i + 1);
  }
  return headers;
}

function enqueueOptions(f: EnqueueFlags): EnqueueOptions {
  const o: EnqueueOptions = {};
  const set = <K extends keyof EnqueueOptions>(k: K, v: EnqueueOptions[K] | undefined): void => {
    if (v !== undefined) o[k] = v;
  };
  set('priority', priorityArg(f.priority));
  set('delayMs', intArg('--delay-ms', f.delayMs));
  set('runAt', f.runAt === undefined ? undefined : timeArg('--run-at', f.runAt));
  set('maxAttempts', intArg('--max-attempts', f.maxAttempts, 1));
  set('maxDeliveries', intArg('--max-deliveries', f.maxDeliveries, 1));
  set('leaseMs', intArg('--lease-ms', f.leaseMs, 1));
  set('ttlMs', intArg('--ttl-ms', f.ttlMs, 1));
  set('idempotencyKey', f.idempotencyKey);
  set('group', f.group);
  set('headers', headersArg(f.header));
  set('key', f.key);
  set('cost', intArg('--cost', f.cost, 1));
  set('id', f.id);
  return o;
}

const repeatable = (v: string, acc: string[] = []): string[] => [...acc, v];

export function enqueueCommand(setCode: SetCode): Command {
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
    .option('--header <key=value>', 'a task header (repeatable)', repeatable)
    .option('--raw', 'send the payload bytes as they are instead of parsing JSON')
    .option('--key <key>', 'limit key (a tenant): per-key limits and fair scheduling')
    .option('--cost <n>', 'cost units against concurrency and rate limits (default 1)')
    .option('--id <id>', 'custom task id: enqueueing it again returns the first task')
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

type ReadFlags = Common & { raw?: boolean };

async function getTask(client: Client, id: string, raw: boolean | undefined): Promise<RenderedTask> {
  const reply = await client.query('GetTask', { id });
  return renderTask(reply['task'], (reply['asOf'] as AsOf | undefined) ?? null, { raw: raw === true });
}

function getCommand(setCode: SetCode): Command {
  return withCommon(new Command('get'))
    .alias('show')
    .description('one task: payload, result, errors, attempts, and the log entry (index, term) of each step')
    .argument('<id>')
    .option('--raw', 'show the payload bytes as base64')
    .action(
      action(setCode, async (client, o, id: string) => {
        const raw = (o as ReadFlags).raw;
        const t = await getTask(client, id, raw);
        print(o, t, () => taskDetail(t, { raw: raw === true }));
      }),
    );
}

interface ListFlags extends ReadFlags {
  state: string;
  limit?: string;
  cursor?: string;
}

/** One page of tasks in one state, rendered. */
export async function listPage(
  client: Client,
  method: 'ListTasks' | 'ListDeadLetters',
  request: Record<string, unknown>,
  raw: boolean | undefined,
): Promise<{ items: RenderedTask[]; nextCursor: string | null }> {
  const reply = await client.query(method, request);
  const asOf = (reply['asOf'] as AsOf | undefined) ?? null;
  const items = Array.isArray(reply['items']) ? (reply['items'] as unknown[]) : [];
  const next = reply['nextCursor'];
  return {
    items: items.map((w) => renderTask(w, asOf, { raw: raw === true })),
    nextCursor: typeof next === 'string' && next !== '' ? next : null,
  };
}

function listStates(v: string): TaskState[] {
  if (v === 'all') return [...TASK_STATES];
  if (!TASK_STATES.includes(v as TaskState))
    throw new ClientUsageError(`--state: one of ${TASK_STATES.join(', ')}, all`);
  return [v as TaskState];
}

function listCommand(setCode: SetCode): Command {
  return withCommon(new Command('list'))
    .description('tasks of a queue in a state (default waiting), or in every state with --state all')
    .argument('<queue>')
    .addOption(new Option('--state <state>', `${TASK_STATES.join('|')}|all`).default('waiting'))
    .option('--limit <n>', 'tasks per page (per state with --state all)')
    .option('--cursor <cursor>')
    .option('--raw', 'show the payload bytes as base64')
    .action(
      action(setCode, async (client, o, queue: string) => {
        const f = o as ListFlags;
        const states = listStates(f.state);
        if (states.length > 1 && f.cursor !== undefined) throw new ClientUsageError('--cursor: not with --state all');
        const limit = intArg('--limit', f.limit, 1);
        const items: RenderedTask[] = [];
        let nextCursor: string | null = null;
        for (const state of states) {
          const request: Record<string, unknown> = { queue, state };
          if (limit !== undefined) request['limit'] = limit;
          if (f.cursor !== undefined) request['cursor'] = f.cursor;
          const page = await listPage(client, 'ListTasks', request, f.raw);
          items.push(...page.items);
          if (states.length === 1) nextCursor = page.nextCursor;
        }
        print(
          o,
          { items, nextCursor },
          () =>
            table(
              TASK_HEADERS,
              items.map((t) => taskRow(t, { raw: f.raw === true })),
            ) + (nextCursor ? `next: --cursor ${nextCursor}\n` : ''),
        );
      }),
    );
}

/** `tasks retry`: a dead task is redriven, a failed one waiting for its backoff runs now. */
async function retry(client: Client, id: string): Promise<{ id: string; retried: string; as?: string }> {
  const t = await getTask(client, id, false);
  if (t.state === 'delayed' && (t['attempts'] as number) > 0) {
    await client.queue(t.queue).promote(id);
    return { id, retried: 'promoted' };
  }
  const redrivable = t.state === 'dead' || (t['deadLetterOf'] !== undefined && t.state !== 'completed');
  if (!redrivable) {
    throw new ClientUsageError(
      `task ${id} is ${t.state}: only a dead task, a dead letter, or a failed task awaiting its retry can be retried`,
    );
  }
  // A dead task whose copy waits in the dead-letter queue is redriven through that copy.
  const copyId = t['deadLetterId'] as string | undefined;
  const from = copyId === undefined ? t : await getTask(client, copyId, false);
  const ids = await client.queue(from.queue).redrive({ ids: [from.id] });
  if (ids.length === 0) throw new ClientUsageError(`task ${id} was already redriven`);
  return { id, retried: 'redriven', as: ids[0] as string };
}

interface UpdateFlags extends Common {
  priority?: string;
  payload?: string;
  delayMs?: string;
  runAt?: string;
}

function updateCommand(setCode: SetCode): Command {
  return withCommon(new Command('update'))
    .description("change a waiting or delayed task's priority, payload (JSON) or time")
    .argument('<id>')
    .option('--priority <n>')
    .option('--payload <json>')
    .option('--delay-ms <ms>')
    .option('--run-at <time>', 'epoch ms or ISO date')
    .action(
      action(setCode, async (client, o, id: string) => {
        const f = o as UpdateFlags;
        const changes: { priority?: number; payload?: unknown; delayMs?: number; runAt?: number } = {};
        const priority = priorityArg(f.priority);
        if (priority !== undefined) changes.priority = priority;
        if (f.payload !== undefined) changes.payload = parseJson('--payload', f.payload);
        const delayMs = intArg('--delay-ms', f.delayMs);
        if (delayMs !== undefined) changes.delayMs = delayMs;
        if (f.runAt !== undefined) changes.runAt = timeArg('--run-at', f.runAt);
        if (Object.keys(changes).length === 0)
          throw new ClientUsageError('update: pass --priority, --payload, --delay-ms or --run-at');
        const state = await client.queue('_').update(id, changes);
        print(o, { id, state }, () => `${id} ${state}\n`);
      }),
    );
}

export function tasksCommand(setCode: SetCode): Command {
  const tasks = new Command('tasks').description('read and manage tasks');
  tasks.addCommand(getCommand(setCode));
  tasks.addCommand(listCommand(setCode));
  for (const verb of ['cancel', 'promote'] as const) {
    tasks.addCommand(
      (verb === 'cancel' ? withYes(withCommon(new Command(verb))) : withCommon(new Command(verb)))
        .argument('<id>')
        .action(
          action(setCode, async (client, o, id: string) => {
            const q = client.queue('_');
            if (verb === 'cancel') await confirm(o, `cancel task ${id}`);
            const state = verb === 'cancel' ? await q.cancel(id) : await q.promote(id);
            print(o, { id, state }, () => `${id} ${state}\n`);
          }),
        ),
    );
  }
  tasks.addCommand(
    withCommon(new Command('retry'))
      .description('run a dead task (or dead letter) again, or a failed task awaiting its backoff now')
      .argument('<id>')
      .action(
        action(setCode, async (client, o, id: string) => {
          const r = await retry(client, id);
          print(o, r, () => `${id} ${r.retried}${r.as ? ` as ${r.as}` : ''}\n`);
        }),
      ),
  );
  tasks.addCommand(updateCommand(setCode));
  return tasks;
}
