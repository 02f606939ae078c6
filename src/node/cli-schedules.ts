// `raftq schedules …`: list / upsert / pause / resume / delete / trigger recurring tasks
// (docs/schedules.md). Times print in ISO 8601 UTC; --tz only says in which zone the cron is read.
import { Command } from 'commander';
import type { Schedule, ScheduleOptions } from '../client/schedules.js';
import type { CatchUp } from '../protocol/schedules.js';
import { CATCH_UPS } from '../protocol/schedules.js';
import {
  action,
  ClientUsageError,
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

function when(ms: number | undefined): string {
  return ms === undefined ? '-' : new Date(ms).toISOString();
}

function timingOf(s: Schedule): string {
  return s.cron !== undefined ? `cron "${s.cron}" ${s.tz ?? 'UTC'}` : `every ${s.everyMs ?? 0} ms`;
}

function stateOf(s: Schedule): string {
  return s.done ? 'done' : s.paused ? 'paused' : 'running';
}

function listCommand(setCode: SetCode): Command {
  return withCommon(new Command('list'))
    .description('schedules (of one queue, or all), each with its next 5 run times')
    .argument('[queue]')
    .action(
      action(setCode, async (client, o, queue: string | undefined) => {
        const list = await client.schedules.list(queue);
        print(o, list, () =>
          table(
            ['QUEUE', 'ID', 'TIMING', 'STATE', 'RUNS', 'SKIPPED', 'FAILED', 'NEXT RUNS'],
            list.map((s) => [
              s.queue,
              s.id,
              timingOf(s),
              stateOf(s),
              s.runs,
              s.skipped,
              s.failed,
              s.nextRuns.map((t) => when(t)).join(' '),
            ]),
          ),
        );
      }),
    );
}

interface UpsertFlags extends Common {
  cron?: string;
  tz?: string;
  every?: string;
  payload?: string;
  startAt?: string;
  endAt?: string;
  limit?: string;
  catchUp?: string;
  catchUpMax?: string;
  grace?: string;
  jitter?: string;
  paused?: boolean;
}

function instantArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isSafeInteger(t)) throw new ClientUsageError(`${name}: expected an ISO 8601 time or epoch ms`);
  return t;
}

function upsertOptions(f: UpsertFlags): ScheduleOptions {
  if ((f.cron === undefined) === (f.every === undefined))
    throw new ClientUsageError('give exactly one of --cron and --every');
  const opts: ScheduleOptions = { payload: f.payload === undefined ? null : parseJson('--payload', f.payload) };
  if (f.cron !== undefined) opts.cron = f.cron;
  if (f.tz !== undefined) opts.tz = f.tz;
  const set = <K extends keyof ScheduleOptions>(k: K, v: ScheduleOptions[K] | undefined): void => {
    if (v !== undefined) opts[k] = v;
  };
  set('everyMs', intArg('--every', f.every, 1000));
  set('startAt', instantArg('--start-at', f.startAt));
  set('endAt', instantArg('--end-at', f.endAt));
  set('limit', intArg('--limit', f.limit, 1));
  set('catchUpMax', intArg('--catch-up-max', f.catchUpMax, 1));
  set('graceMs', intArg('--grace', f.grace, 0));
  set('jitterMs', intArg('--jitter', f.jitter, 0));
  if (f.catchUp !== undefined) {
    if (!CATCH_UPS.includes(f.catchUp as CatchUp))
      throw new ClientUsageError(`--catch-up: expected one of ${CATCH_UPS.join(', ')}`);
    opts.catchUp = f.catchUp as CatchUp;
  }
  if (f.paused === true) opts.paused = true;
  return opts;
}

function upsertCommand(setCode: SetCode): Command {
  return withCommon(new Command('upsert'))
    .description('create a schedule or replace its settings')
    .argument('<queue>')
    .argument('<id>')
    .option('--cron <expr>', '5 fields (minutes) or 6 (seconds first), e.g. "0 6 * * *"')
    .option('--tz <zone>', 'IANA time zone of --cron (default UTC), e.g. Europe/Paris')
    .option('--every <ms>', 'a fixed period in ms (≥ 1000) instead of --cron')
    .option('--payload <json>', 'the payload of every run (JSON; default null)')
    .option('--start-at <time>', 'first slot at or after this time (ISO 8601 or epoch ms)')
    .option('--end-at <time>', 'no slot at or after this time')
    .option('--limit <n>', 'runs at most')
    .option('--catch-up <policy>', 'missed slots: none, latest (default) or all')
    .option('--catch-up-max <n>', 'runs per log entry at most (default 10)')
    .option('--grace <ms>', 'a slot applied later than this is missed (default 60000)')
    .option('--jitter <ms>', 'deterministic delay per slot, up to this')
    .option('--paused', 'create it paused')
    .action(
      action(setCode, async (client, o, queue: string, id: string) => {
        const r = await client.schedules.upsert(queue, id, upsertOptions(o as UpsertFlags));
        print(o, { queue, id, ...r }, () => `${queue}/${id} ${r.created ? 'created' : 'updated'}\n`);
      }),
    );
}

export function schedulesCommand(setCode: SetCode): Command {
  const cmd = new Command('schedules').description('recurring tasks: cron in a time zone, or every N ms');
  cmd.addCommand(listCommand(setCode));
  cmd.addCommand(upsertCommand(setCode));
  for (const verb of ['pause', 'resume', 'trigger'] as const) {
    cmd.addCommand(
      withCommon(new Command(verb))
        .argument('<queue>')
        .argument('<id>')
        .action(
          action(setCode, async (client, o, queue: string, id: string) => {
            const s = client.schedules;
            if (verb === 'trigger') {
              const taskId = await s.trigger(queue, id);
              return print(o, { queue, id, taskId }, () => `${queue}/${id} triggered: task ${taskId}\n`);
            }
            await (verb === 'pause' ? s.pause(queue, id) : s.resume(queue, id));
            print(o, { queue, id, [`${verb}d`]: true }, () => `${queue}/${id} ${verb}d\n`);
          }),
        ),
    );
  }
  cmd.addCommand(
    withYes(withCommon(new Command('delete')))
      .argument('<queue>')
      .argument('<id>')
      .action(
        action(setCode, async (client, o, queue: string, id: string) => {
          await confirm(o, `delete schedule ${queue}/${id}`);
          await client.schedules.delete(queue, id);
          print(o, { queue, id, deleted: true }, () => `${queue}/${id} deleted\n`);
        }),
      ),
  );
  return cmd;
}
