// `raftq tokens hash`: a made token verifies against its printed hash, --stdin hashes a given token,
// and bad input is a usage error (exit 2).
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { cliOutput } from '../../../src/node/cli-common.js';
import { tokensCommand } from '../../../src/node/cli-tokens.js';
import { ClientAuth, type Role, type TokenSpec } from '../../../src/rpc/auth.js';

async function run(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let code = 0;
  let out = '';
  let err = '';
  const saved = { ...cliOutput };
  cliOutput.out = (s) => void (out += s);
  cliOutput.err = (s) => void (err += s);
  cliOutput.stdin = async () => Buffer.from(stdin);
  try {
    const program = new Command('raftq').exitOverride();
    program.addCommand(tokensCommand((c) => (code = c)));
    await program.parseAsync(['node', 'raftq', 'tokens', 'hash', ...args]);
  } finally {
    Object.assign(cliOutput, saved);
  }
  return { code, out, err };
}

function specOf(entry: { id: string; hash: string; roles: string[] }): TokenSpec {
  const grants = entry.roles.map((r) => ({ role: r.split(':')[0] as Role, queues: r.split(':')[1] ?? '*' }));
  return { id: entry.id, hash: entry.hash, grants };
}

describe('cli - raftq tokens hash', () => {
  it('makes a token whose printed hash admits it, with its grants', async () => {
    const r = await run(['--id', 'ingest', '--role', 'producer:emails.*', '--json']);
    expect(r.code, r.err).toBe(0);
    const { token, entry } = JSON.parse(r.out) as {
      token: string;
      entry: { id: string; hash: string; roles: string[] };
    };
    expect(token.startsWith('ingest.')).toBe(true);
    expect(entry.hash).not.toContain(token.slice('ingest.'.length));
    const auth = new ClientAuth([specOf(entry)]);
    expect(await auth.admit('Enqueue', `Bearer ${token}`, { queue: 'emails.a' })).toMatchObject({ id: 'ingest' });
    expect(await auth.admit('Enqueue', `Bearer ${token}`, { queue: 'other' })).toMatchObject({
      code: 'PERMISSION_DENIED',
    });
  });

  it('hashes a token read from stdin, printing no token', async () => {
    const r = await run(['--stdin', '--role', 'reader:*'], 'svc.some-secret-value\n');
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toContain('some-secret-value');
    const entry = JSON.parse(r.out.split('\n')[1] as string) as { id: string; hash: string; roles: string[] };
    expect(entry.id).toBe('svc');
    const auth = new ClientAuth([specOf(entry)]);
    expect(await auth.admit('ListQueues', 'Bearer svc.some-secret-value', {})).toMatchObject({ id: 'svc' });
    expect(await auth.admit('ListQueues', 'Bearer svc.other', {})).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('refuses a bad role, a missing id and a token without an id', async () => {
    expect((await run(['--id', 'x', '--role', 'boss:*'])).code).toBe(2);
    expect((await run([])).code).toBe(2);
    expect((await run(['--stdin'], 'nodot')).code).toBe(2);
  });
});
