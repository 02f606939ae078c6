// `raftq tokens add | revoke | list` (issue #14, docs/security.md): replicated client tokens through
// the admin HTTP routes of admin-tokens.ts. `add` makes the token here and sends only its scrypt hash
// and grants (the log never holds the token); it prints the token once. An existing id is rotated:
// its old secret stops working at the new entry's index. `revoke` leaves a tombstone in the log,
// which also revokes a config-file token of that id; each node refuses the token once it has applied
// that index (`list` shows a node's applied index).
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { hashToken, newToken } from '../rpc/auth.js';
import { TOKEN_ID_RE, parseGrant, type Grant } from '../protocol/tokens.js';
import { adminCall } from './admin-client.js';
import { ClientUsageError, cliOutput, intArg, type SetCode } from './cli-common.js';
import { adminAddresses } from './cli-members.js';

interface AdminOpts {
  admin?: string;
  token?: string;
  tlsCa?: string;
  json?: boolean;
  timeoutMs?: string;
}

function withAdmin(cmd: Command): Command {
  return cmd
    .option('--admin <list>', "admin HTTP addresses host:port,… (the nodes' --http; default: $RAFTQ_ADMIN)")
    .option('--token <token>', 'admin bearer token when the cluster has auth on (default: $RAFTQ_TOKEN)')
    .option('--tls-ca <file>', 'PEM CA of the cluster: the admin ports speak HTTPS (default: $RAFTQ_TLS_CA)')
    .option('--timeout-ms <ms>', 'give up after this long, retries included (default 30000)')
    .option('--json', 'machine-readable output');
}

type Call = (path: string, body: unknown) => Promise<Record<string, unknown>>;

function action<A extends unknown[]>(
  setCode: SetCode,
  body: (call: Call, o: AdminOpts, ...args: A) => Promise<void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const o = (args[args.length - 1] as Command).opts<AdminOpts>();
    try {
      const addresses = adminAddresses(o);
      const deadlineMs = intArg('--timeout-ms', o.timeoutMs, 1) ?? 30_000;
      const token = o.token ?? process.env['RAFTQ_TOKEN'];
      const caFile = o.tlsCa ?? process.env['RAFTQ_TLS_CA'];
      const ca = caFile ? readFileSync(caFile) : undefined;
      const call: Call = (path, b) =>
        adminCall(path, {
          addresses,
          body: b,
          deadlineMs,
          retryOn: ['UNAVAILABLE'],
          ...(token ? { token } : {}),
          ...(ca ? { ca } : {}),
        });
      await body(call, o, ...(args.slice(0, -2) as A));
      setCode(0);
    } catch (e) {
      cliOutput.err(`raftq: ${e instanceof Error ? e.message : String(e)}\n`);
      setCode(e instanceof ClientUsageError ? 2 : 1);
    }
  };
}

function grantsOf(roles: string[]): Grant[] {
  if (roles.length === 0) throw new ClientUsageError('--role: at least one grant role:queue-pattern is needed');
  return roles.map((r) => parseGrant(r) ?? usage(`--role ${r}: expected producer|worker|admin|reader:queue-pattern`));
}

function usage(message: string): never {
  throw new ClientUsageError(message);
}

function collect(v: string, all: string[]): string[] {
  return [...all, v];
}

export function tokensAdminCommands(setCode: SetCode): Command[] {
  const add = withAdmin(new Command('add'))
    .description('add a client token through the log (or rotate the one of this id); prints the token once')
    .requiredOption('--id <id>', 'token id (letters, digits, _ . -)')
    .option('--role <role:pattern>', 'a grant, repeatable: producer|worker|admin|reader:queue-pattern', collect, [])
    .action(
      action(setCode, async (call, o) => {
        const { id, role } = o as AdminOpts & { id: string; role: string[] };
        if (!TOKEN_ID_RE.test(id)) usage('--id: letters, digits, _ . - (1..64)');
        const grants = grantsOf(role);
        const token = newToken(id);
        const a = await call('/admin/tokens/add', { id, hash: await hashToken(token), grants });
        if (o.json === true)
          cliOutput.out(`${JSON.stringify({ token, id, index: a['index'], rotated: a['rotated'] })}\n`);
        else {
          const what = a['rotated'] === true ? 'rotated (the previous secret no longer works)' : 'added';
          cliOutput.out(`token ${id} ${what} at index ${String(a['index'])}\n`);
          cliOutput.out(`token (give it to the client; raftq keeps only its hash): ${token}\n`);
        }
      }),
    );
  const revoke = withAdmin(new Command('revoke'))
    .description('revoke a client token (from the log or a config file) on every node, without a restart')
    .argument('<id>', 'token id')
    .action(
      action(setCode, async (call, o, id: string) => {
        if (!TOKEN_ID_RE.test(id)) usage('<id>: letters, digits, _ . - (1..64)');
        const a = await call('/admin/tokens/revoke', { id });
        if (o.json === true) cliOutput.out(`${JSON.stringify({ id, index: a['index'], existed: a['existed'] })}\n`);
        else cliOutput.out(`token ${id} revoked at index ${String(a['index'])}: each node refuses it once applied\n`);
      }),
    );
  const list = withAdmin(new Command('list'))
    .description('the client tokens in force on a node (ids and grants; never a hash)')
    .action(
      action(setCode, async (call, o) => {
        const a = await call('/admin/tokens/list', {});
        if (o.json === true) return cliOutput.out(`${JSON.stringify(a)}\n`);
        const rows = (a['tokens'] ?? []) as {
          id: string;
          source: string;
          grants: string[];
          index: number | null;
          revoked: boolean;
        }[];
        cliOutput.out(`applied index ${String(a['appliedIndex'])}\n`);
        for (const t of rows) {
          const state = t.revoked ? 'revoked' : t.grants.join(',');
          cliOutput.out(`${t.id}\t${t.source}${t.index === null ? '' : `@${t.index}`}\t${state}\n`);
        }
      }),
    );
  return [add, revoke, list];
}
