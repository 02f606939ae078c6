// `raftq cluster activate-version N | versions` (issue 16, docs/operations.md "Upgrades"): the admin
// routes of admin-versions.ts, called like `raftq members add` (cli-members.ts): on to the next
// address while a node is not the leader; a refusal prints "CODE: why" and exits 1.
import { Command } from 'commander';
import { cliOutput, ClientUsageError, table, type SetCode } from './cli-common.js';
import { BUSY, adminAction, withAdmin } from './cli-members.js';

function activateCommand(setCode: SetCode): Command {
  return withAdmin(new Command('activate-version'))
    .description(
      "switch the cluster's state machine to version N once every member runs a raftq that supports it (after a rolling upgrade)",
    )
    .argument('<version>', 'the state machine version to activate')
    .action(
      adminAction(setCode, async (call, o, raw: string) => {
        const version = /^[1-9][0-9]{0,6}$/.test(raw) ? Number(raw) : NaN;
        if (!Number.isSafeInteger(version))
          throw new ClientUsageError(`version: ${JSON.stringify(raw)} is not a positive integer`);
        const a = await call('/admin/cluster/activate-version', { version }, BUSY);
        if (o.json) {
          cliOutput.out(`${JSON.stringify(a)}\n`);
          return;
        }
        const v = String(a['activeVersion']);
        cliOutput.out(
          a['changed'] === true
            ? `state machine version ${v} active from index ${String(a['index'])}\n`
            : `state machine version ${v} was already active (nothing changed)\n`,
        );
      }),
    );
}

function versionsCommand(setCode: SetCode): Command {
  return withAdmin(new Command('versions'))
    .description("the active state machine version and the highest each member runs, as the leader's node heard it")
    .action(
      adminAction(setCode, async (call, o) => {
        const a = await call('/admin/cluster/versions', {}, BUSY);
        if (o.json) {
          cliOutput.out(`${JSON.stringify(a)}\n`);
          return;
        }
        const members = (a['members'] ?? []) as Array<{ id: string; smMax: number | null }>;
        cliOutput.out(
          `active state machine version ${String(a['activeVersion'])}\n` +
            table(
              ['ID', 'SM_MAX'],
              members.map((m) => [m.id, m.smMax]),
            ),
        );
      }),
    );
}

/** `raftq cluster`: cluster-wide switches on the admin port. */
export function clusterCommand(setCode: SetCode): Command {
  return new Command('cluster')
    .description('cluster-wide settings: activate-version, versions')
    .addCommand(activateCommand(setCode))
    .addCommand(versionsCommand(setCode));
}
