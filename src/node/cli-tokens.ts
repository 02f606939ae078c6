// `raftq tokens hash`: makes a client bearer token and the scrypt hash to put in the node config (the
// token itself is never stored by raftq). `raftq tokens add | revoke | list` change the replicated
// tokens through the log without a restart (cli-tokens-admin.ts, src/node/admin-tokens.ts).
import { Command } from 'commander';
import { hashToken, newToken, ROLES } from '../rpc/auth.js';
import { ClientUsageError, cliOutput, type SetCode } from './cli-common.js';
import { tokensAdminCommands } from './cli-tokens-admin.js';

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

interface HashOptions {
  id?: string;
  role: string[];
  stdin?: boolean;
  json?: boolean;
}

export function tokensCommand(setCode: SetCode): Command {
  const hash = new Command('hash')
    .description('make a token (or read one with --stdin) and print the scrypt hash for the node config')
    .option('--id <id>', 'token id (letters, digits, _ . -); counted in metrics under it')
    .option('--role <role:pattern>', `a grant, repeatable: ${ROLES.join('|')}:queue-pattern`, collect, [])
    .option('--stdin', 'hash the token read from standard input instead of making one')
    .option('--json', 'machine-readable output')
    .action(async (o: HashOptions) => {
      try {
        setCode(await runHash(o));
      } catch (e) {
        cliOutput.err(`raftq: ${e instanceof Error ? e.message : String(e)}\n`);
        setCode(e instanceof ClientUsageError ? 2 : 1);
      }
    });
  const tokens = new Command('tokens').description('client bearer tokens').addCommand(hash);
  for (const c of tokensAdminCommands(setCode)) tokens.addCommand(c);
  return tokens;
}

function collect(v: string, all: string[]): string[] {
  return [...all, v];
}

async function runHash(o: HashOptions): Promise<number> {
  for (const r of o.role) {
    const role = r.split(':')[0] as (typeof ROLES)[number];
    if (!ROLES.includes(role)) throw new ClientUsageError(`--role ${r}: must start with one of ${ROLES.join(', ')}`);
  }
  let token: string;
  let made = false;
  if (o.stdin === true) {
    token = (await cliOutput.stdin()).toString('utf8').trim();
    if (!/^[\x21-\x7e]{1,1024}$/.test(token)) throw new ClientUsageError('--stdin: the token must be printable ASCII');
  } else {
    if (o.id === undefined || !ID_RE.test(o.id)) throw new ClientUsageError('--id: a token id is required');
    token = newToken(o.id);
    made = true;
  }
  const id = token.slice(0, Math.max(0, token.lastIndexOf('.')));
  if (!ID_RE.test(id)) throw new ClientUsageError('the token must be <id>.<secret>');
  if (o.id !== undefined && o.id !== id) throw new ClientUsageError(`--id ${o.id}: the token's id is ${id}`);
  const entry = { id, hash: await hashToken(token), roles: o.role.length > 0 ? o.role : ['reader:*'] };
  if (o.json === true) {
    cliOutput.out(`${JSON.stringify(made ? { token, entry } : { entry })}\n`);
  } else {
    if (made) cliOutput.out(`token (give it to the client; raftq stores only its hash): ${token}\n`);
    cliOutput.out(`config entry (add it to "tokens" in every node's config file):\n${JSON.stringify(entry)}\n`);
  }
  return 0;
}
