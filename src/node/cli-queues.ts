// `raftq queues …`, `raftq dlq …` and `raftq events`. The dead-letter model, one rule: a task that
// runs out of attempts ends `dead` in its own queue; if that queue has a `deadLetterQueue`, a copy
// waits there too. `dlq list Q` shows Q's dead tasks and the dead letters waiting in Q; `dlq
// redrive Q` sends them back (each to the queue it came from, or --to). An empty answer says where
// to look instead.
import { Command } from 'commander';
import type { Client } from '../client/client.js';
import { FailedPreconditionError } from '../client/errors.js';
import type { QueueStats } from '../protocol/commands.js';
import {
  action,
  asList,
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
import { iso, TASK_HEADERS, taskRow } from './cli-render.js';
import { listPage } from './cli-tasks.js';

const COUNT_STATES = ['waiting', 'delayed', 'leased', 'completed', 'dead', 'cancelled', 'expired'];

function listCommand(setCode: SetCode): Command {
  return withCommon(new Command('list')).action(
    action(setCode, async (client, o) => {
      const reply = await client.query('ListQueues', {});
      const list = asList(reply['queues']).map((q) => ({
        queue: String(q['queue']),
        counts: q['counts'] as Record<string, number>,
        paused: (q['settings'] as Record<string, unknown> | null)?.['paused'] === true,
      }));
      print(o, list, () =>
        table(
          [...['QUEUE'], ...COUNT_STATES.map((s) => s.toUpperCase()), 'PAUSED'],
          list.map((q) => [q.queue, ...COUNT_STATES.map((s) => q.counts?.[s] ?? 0), q.paused ? 'yes' : 'no']),
        ),
      );
    }),
  );
}

function describeText(s: QueueStats, at: number): string {
  const counts = COUNT_STATES.map((k) => `${k} ${s.counts[k as keyof QueueStats['counts']] ?? 0}`).join(', ');
  const totals = Object.entries(s.totals)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const oldest = s.oldestWaitingAgeMs === null ? 'none' : `${(s.oldestWaitingAgeMs / 1000).toFixed(1)} s`;
  return (
    `queue:          ${s.queue}\n` +
    `as of:          ${iso(at)}\n` +
    `counts:         ${counts}\n` +
    `oldest waiting: ${oldest}\n` +
    `totals:         ${totals}\n` +
    `settings:       ${JSON.stringify(s.settings)}\n`
  );
}

function describeCommand(setCode: SetCode): Command {
  return withCommon(new Command('describe'))
    .description('settings, counts, oldest waiting age and totals of a queue')
    .argument('<queue>')
    .action(
      action(setCode, async (client, o, queue: string) => {
        const stats = await client.queue(queue).stats();
        print(o, stats, () => describeText(stats, Date.now()));
      }),
    );
}

function configureCommand(setCode: SetCode): Command {
  return withCommon(new Command('configure'))
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
    );
}

function deleteCommand(setCode: SetCode): Command {
  return withYes(withCommon(new Command('delete')))
    .argument('<queue>')
    .option('--force', 'cancel its non-terminal tasks first')
    .action(
      action(setCode, async (client, o, queue: string) => {
        const force = (o as { force?: boolean }).force === true;
        await confirm(o, `delete queue ${queue}${force ? ' and cancel its tasks' : ''}`);
        try {
          await client.queue(queue).delete({ force });
        } catch (e) {
          if (e instanceof FailedPreconditionError && !force) {
            cliOutput.err(`raftq: ${e.message}\nhint: --force cancels its waiting and delayed tasks first\n`);
            return 1;
          }
          throw e;
        }
        print(o, { queue, deleted: true }, () => `${queue} deleted\n`);
      }),
    );
}

function purgeCommand(setCode: SetCode): Command {
  return withYes(withCommon(new Command('purge')))
    .description('cancel every waiting, delayed and leased task of a queue (reason "purged")')
    .argument('<queue>')
    .action(
      action(setCode, async (client, o, queue: string) => {
        await confirm(o, `purge queue ${queue}`);
        await client.queue(queue).purge();
        print(o, { queue, purged: true }, () => `${queue} purged\n`);
      }),
    );
}

export function queuesCommand(setCode: SetCode): Command {
  const queues = new Command('queues').description('list and administer queues');
  queues.addCommand(listCommand(setCode));
  queues.addCommand(describeCommand(setCode));
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
  queues.addCommand(configureCommand(setCode));
  queues.addCommand(purgeCommand(setCode));
  queues.addCommand(deleteCommand(setCode));
  return queues;
}

/** Where to look when a dlq command matched nothing in `queue`. */
async function dlqHint(client: Client, queue: string): Promise<string> {
  const stats = await client.queue(queue).stats();
  const dlq = stats.settings.deadLetterQueue;
  if (dlq !== null && dlq !== queue) {
    return `hint: ${queue} has no dead tasks left; its dead letters are copied to ${dlq}: raftq dlq list ${dlq}\n`;
  }
  return `hint: ${queue} has no dead tasks; a task is dead after maxAttempts (${stats.settings.maxAttempts}) failures or a NonRetryableError\n`;
}

function dlqListCommand(setCode: SetCode): Command {
  return withCommon(new Command('list'))
    .description("a queue's dead tasks and the dead letters waiting in it")
    .argument('<queue>')
    .option('--limit <n>')
    .option('--cursor <cursor>')
    .option('--raw', 'show the payload bytes as base64')
    .action(
      action(setCode, async (client, o, queue: string) => {
        const f = o as Common & { limit?: string; cursor?: string; raw?: boolean };
        const request: Record<string, unknown> = { queue };
        const limit = intArg('--limit', f.limit, 1);
        if (limit !== undefined) request['limit'] = limit;
        if (f.cursor !== undefined) request['cursor'] = f.cursor;
        const page = await listPage(client, 'ListDeadLetters', request, f.raw);
        print(o, page, () =>
          table(
            TASK_HEADERS,
            page.items.map((t) => taskRow(t, { raw: f.raw === true })),
          ),
        );
        if (page.items.length === 0 && f.cursor === undefined && !f.json) cliOutput.err(await dlqHint(client, queue));
      }),
    );
}

function dlqRedriveCommand(setCode: SetCode): Command {
  return withCommon(new Command('redrive'))
    .description('send the dead tasks / dead letters listed by `dlq list QUEUE` back as new tasks')
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
        const more = ids.continuing ? '; more continue in the background (run `dlq list` later)' : '';
        print(
          o,
          { ids: [...ids], continuing: ids.continuing },
          () => `${ids.length} redriven${ids.length > 0 ? `: ${ids.join(' ')}` : ''}${more}\n`,
        );
        if (ids.length === 0 && !ids.continuing && !f.json) cliOutput.err(await dlqHint(client, queue));
      }),
    );
}

export function dlqCommand(setCode: SetCode): Command {
  const dlq = new Command('dlq').description(
    'dead letters: a dead task stays in its queue; with a deadLetterQueue setting a copy waits there too',
  );
  dlq.addCommand(dlqListCommand(setCode));
  dlq.addCommand(dlqRedriveCommand(setCode));
  return dlq;
}

export function eventsCommand(setCode: SetCode, stop: () => Promise<void>): Command {
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
