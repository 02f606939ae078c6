// `raftq members list | add | promote | remove | replace | transfer-leader` (issue 16). `list` (the
// default) reads through the client port like `raftq status`; the changes go to the admin HTTP
// routes of admin-members.ts on the addresses of --admin / RAFTQ_ADMIN: the call goes on to the
// next address while a node is not the leader, and prints a refusal as "CODE: why" (exit 1).
import { Command } from 'commander';
import { AdminCallError, adminCall } from './admin-client.js';
import { cliOutput, ClientUsageError, intArg, table, type SetCode } from './cli-common.js';
import { membersCommand as membersListCommand } from './cli-status.js';

interface AdminOpts {
  admin?: string;
  json?: boolean;
  timeoutMs?: string;
  token?: string;
  address?: string;
  peerAddress?: string;
  promote?: boolean;
  waitMs?: string;
}

/** Retried while the cluster settles, never a refusal for good. */
export const BUSY = ['CHANGE_IN_PROGRESS', 'TRANSFER_IN_PROGRESS', 'TIMEOUT'];

export function adminAddresses(o: { admin?: string }): string[] {
  const raw = o.admin ?? process.env['RAFTQ_ADMIN'];
  if (raw === undefined || raw.trim() === '')
    throw new ClientUsageError("no admin addresses: pass --admin host:port,… (the nodes' --http) or set RAFTQ_ADMIN");
  const list = raw.split(',').map((s) => s.trim());
  for (const s of list)
    if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(s))
      throw new ClientUsageError(`bad admin address ${JSON.stringify(s)}: expected host:port`);
  return list;
}

export function withAdmin(cmd: Command): Command {
  return cmd
    .option('--admin <list>', "admin HTTP addresses host:port,… (the nodes' --http; default: $RAFTQ_ADMIN)")
    .option('--json', 'machine-readable output')
    .option('--timeout-ms <ms>', 'give up after this long, retries included (default 30000)')
    .option('--token <token>', 'admin bearer token when the cluster has auth on (default: $RAFTQ_TOKEN)');
}

type Call = (
  path: string,
  body: unknown,
  retryOn?: readonly string[],
  deadlineMs?: number,
) => Promise<Record<string, unknown>>;

/** Runs a change command: maps refusals to "CODE: message" and exit 1, usage errors to exit 2. */
export function adminAction<A extends unknown[]>(
  setCode: SetCode,
  body: (call: Call, o: AdminOpts, ...args: A) => Promise<void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const o = cmd.optsWithGlobals<AdminOpts>();
    try {
      const addresses = adminAddresses(o);
      const timeoutMs = intArg('--timeout-ms', o.timeoutMs, 1) ?? 30_000;
      const token = o.token ?? process.env['RAFTQ_TOKEN'];
      const end = Date.now() + timeoutMs;
      const call: Call = (path, b, retryOn = BUSY, deadlineMs) =>
        adminCall(path, {
          addresses,
          body: b,
          deadlineMs: Math.min(deadlineMs ?? timeoutMs, Math.max(1, end - Date.now())),
          retryOn,
          ...(token ? { token } : {}),
        });
      await body(call, o, ...(args.slice(0, -2) as A));
      setCode(0);
    } catch (e) {
      cliOutput.err(`raftq: ${e instanceof Error ? e.message : String(e)}\n`);
      setCode(e instanceof ClientUsageError ? 2 : 1);
    }
  };
}

function printMembers(o: AdminOpts, what: string, answer: Record<string, unknown>): void {
  if (o.json) {
    cliOutput.out(`${JSON.stringify(answer)}\n`);
    return;
  }
  const members = (answer['members'] ?? []) as Array<Record<string, unknown>>;
  cliOutput.out(
    `${what} (config index ${String(answer['index'])})\n` +
      table(
        ['ID', 'ROLE', 'ADDRESS', 'MATCH'],
        members.map((m) => [
          String(m['id']),
          String(m['role']),
          String(m['address']),
          m['matchIndex'] as number | null,
        ]),
      ),
  );
}

/** Promotes, retrying while the learner catches up, up to `waitMs`; LEARNER_LAGGING after that. */
async function promote(call: Call, id: string, waitMs: number): Promise<Record<string, unknown>> {
  try {
    return await call('/admin/members/promote', { id }, [...BUSY, 'LEARNER_LAGGING', 'NOT_HEARD_FROM'], waitMs);
  } catch (e) {
    if (e instanceof AdminCallError && e.code === 'LEARNER_LAGGING')
      throw new AdminCallError(
        e.code,
        `${e.message.slice(e.code.length + 2)} (waited ${waitMs} ms; pass a longer --wait-ms)`,
      );
    throw e;
  }
}

function addCommand(setCode: SetCode): Command {
  return withAdmin(new Command('add'))
    .description('add a member as a learner (it catches up from the leader); --promote makes it a voter once caught up')
    .argument('<id>', 'the new member id')
    .requiredOption('--address <host:port>', 'its advertised client address')
    .requiredOption('--peer-address <host:port>', 'how the members dial its peer port')
    .option('--promote', 'wait until it has caught up, then promote it to voter')
    .option('--wait-ms <ms>', 'with --promote: how long to wait for it to catch up (default 20000)')
    .action(
      adminAction(setCode, async (call, o, id: string) => {
        let a = await call('/admin/members/add', { id, address: o.address, peerAddress: o.peerAddress });
        if (o.promote) a = await promote(call, id, intArg('--wait-ms', o.waitMs, 0) ?? 20_000);
        printMembers(o, o.promote ? `${id} added and promoted` : `${id} added as a learner`, a);
      }),
    );
}

function promoteCommand(setCode: SetCode): Command {
  return withAdmin(new Command('promote'))
    .description('make a learner a voter; refused (LEARNER_LAGGING) until it has caught up')
    .argument('<id>')
    .option('--wait-ms <ms>', 'keep asking while it catches up, this long (default 0: ask once)')
    .action(
      adminAction(setCode, async (call, o, id: string) => {
        printMembers(o, `${id} promoted`, await promote(call, id, intArg('--wait-ms', o.waitMs, 0) ?? 0));
      }),
    );
}

function removeCommand(setCode: SetCode): Command {
  return withAdmin(new Command('remove'))
    .description('remove a member (the leader hands leadership over first); stop its process afterwards')
    .argument('<id>')
    .action(
      adminAction(setCode, async (call, o, id: string) => {
        printMembers(o, `${id} removed`, await call('/admin/members/remove', { id }));
      }),
    );
}

/** A refusal that only says NEW got there by itself (joined, or promoted by its --join): not an error. */
function alreadyThere(e: unknown, code: string): null {
  if (e instanceof AdminCallError && e.code === code) return null;
  throw e;
}

function replaceCommand(setCode: SetCode): Command {
  return withAdmin(new Command('replace'))
    .description(
      'replace member OLD by NEW: add NEW as a learner (unless it joined already), promote it once caught up, then remove OLD',
    )
    .argument('<old>')
    .argument('<new>')
    .option('--address <host:port>', "NEW's advertised client address (unless NEW joined with --join)")
    .option('--peer-address <host:port>', "how the members dial NEW's peer port (unless NEW joined)")
    .option('--wait-ms <ms>', 'how long NEW may take to catch up (default 30000)')
    .action(
      adminAction(setCode, async (call, o, oldId: string, newId: string) => {
        if (oldId === newId)
          throw new ClientUsageError('replace: OLD and NEW must differ (a wiped node joins under a new id)');
        const list = await call('/admin/members', undefined, BUSY);
        const members = (list['members'] ?? []) as Array<{ id: string; role: string }>;
        if (!members.some((m) => m.id === oldId))
          throw new AdminCallError('NO_SUCH_MEMBER', `${oldId} is not a member`);
        const now = members.find((m) => m.id === newId);
        if (now === undefined) {
          if (!o.address || !o.peerAddress)
            throw new ClientUsageError(`replace: ${newId} is not a member yet: pass --address and --peer-address`);
          // NEW started with --join may join between the list and the add: then go on with it.
          await call('/admin/members/add', { id: newId, address: o.address, peerAddress: o.peerAddress }).catch(
            (e: unknown) => alreadyThere(e, 'ID_EXISTS'),
          );
        }
        if (now?.role !== 'voter')
          await promote(call, newId, intArg('--wait-ms', o.waitMs, 0) ?? 30_000).catch((e: unknown) =>
            alreadyThere(e, 'NOT_A_LEARNER'),
          );
        printMembers(o, `${oldId} replaced by ${newId}`, await call('/admin/members/remove', { id: oldId }));
      }),
    );
}

function transferCommand(setCode: SetCode): Command {
  return withAdmin(new Command('transfer-leader'))
    .description('hand leadership to a voter')
    .argument('<id>')
    .action(
      adminAction(setCode, async (call, o, id: string) => {
        printMembers(o, `${id} leads`, await call('/admin/members/transfer-leader', { id }));
      }),
    );
}

/** `raftq members`: `list` (the default, through the client port) and the changes (admin port). */
export function membersCommand(setCode: SetCode): Command {
  const members = new Command('members').description(
    'the cluster membership: list (default), add, promote, remove, replace, transfer-leader',
  );
  members.addCommand(membersListCommand(setCode).name('list'), { isDefault: true });
  for (const c of [addCommand, promoteCommand, removeCommand, replaceCommand, transferCommand])
    members.addCommand(c(setCode));
  return members;
}
