// `raftq limits`: shared limits (docs/sdk.md "Shared limits"), a named limit several queues reference
// (`raftq queues configure QUEUE '{"sharedLimit":"NAME"}'` joins one). list shows each with its
// queues and what it holds now; set creates or replaces one from a JSON spec; delete removes one no
// queue references.
import { Command } from 'commander';
import type { SharedLimitSpec, SharedLimitView } from '../protocol/shared-limits.js';
import { ClientUsageError, action, parseJson, print, table, withCommon, type SetCode } from './cli-common.js';

function rateText(r: SharedLimitSpec['rate']): string {
  return r ? `${r.limit}/${r.intervalMs}ms${r.burst === undefined ? '' : ` burst ${r.burst}`}` : '-';
}

function listCommand(setCode: SetCode): Command {
  return withCommon(new Command('list'))
    .description('shared limits: their limits, queues, tasks leased, cost in use, tokens, keys tracked')
    .action(
      action(setCode, async (client, o) => {
        const list: SharedLimitView[] = await client.sharedLimits.list();
        print(o, list, () =>
          table(
            [
              'NAME',
              'CONCURRENCY',
              'RATE',
              'KEY CONCURRENCY',
              'KEY RATE',
              'QUEUES',
              'LEASED',
              'IN USE',
              'TOKENS',
              'KEYS',
            ],
            list.map((l) => [
              l.name,
              l.concurrency ?? '-',
              rateText(l.rate),
              l.keyLimits?.concurrency ?? '-',
              rateText(l.keyLimits?.rate),
              l.queues.join(',') || '-',
              l.leased,
              l.inUse,
              l.tokens ?? '-',
              l.keys,
            ]),
          ),
        );
      }),
    );
}

function setCommand(setCode: SetCode): Command {
  return withCommon(new Command('set'))
    .description('create a shared limit or replace its whole spec')
    .argument('<name>')
    .argument(
      '<spec>',
      'JSON, e.g. {"concurrency":10,"rate":{"limit":50,"intervalMs":1000},"keyLimits":{"concurrency":2}}',
    )
    .action(
      action(setCode, async (client, o, name: string, specText: string) => {
        const spec = parseJson('spec', specText);
        if (typeof spec !== 'object' || spec === null || Array.isArray(spec))
          throw new ClientUsageError('spec: expected a JSON object');
        const { created } = await client.sharedLimits.set(name, spec as SharedLimitSpec);
        print(o, { name, created }, () => `${name} ${created ? 'created' : 'replaced'}\n`);
      }),
    );
}

function deleteCommand(setCode: SetCode): Command {
  return withCommon(new Command('delete'))
    .description('delete a shared limit (refused while a queue references it)')
    .argument('<name>')
    .action(
      action(setCode, async (client, o, name: string) => {
        await client.sharedLimits.delete(name);
        print(o, { name, deleted: true }, () => `${name} deleted\n`);
      }),
    );
}

export function limitsCommand(setCode: SetCode): Command {
  const cmd = new Command('limits').description('shared limits: one limit several queues reference');
  cmd.addCommand(listCommand(setCode));
  cmd.addCommand(setCommand(setCode));
  cmd.addCommand(deleteCommand(setCode));
  return cmd;
}
