// `raftq dev --tls --auth` (issue #14): a local cluster with TLS and client tokens that prints the
// environment a client needs; the CLI works with exactly that environment and is refused without the
// token or without the CA; only the token's hash is written under the folder.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RAFTQ_BIN, waitFor } from '../../src/node/local-cluster.js';
import { runRaftq } from './node-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'raftq-devsec-'));
let child: ChildProcess | null = null;

afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function files(d: string): string[] {
  return readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? files(join(d, f)) : [join(d, f)]));
}

describe('raftq dev --tls --auth', () => {
  it('prints the client environment; the CLI needs all of it', async () => {
    child = spawn(
      process.execPath,
      [RAFTQ_BIN, 'dev', '--nodes', '1', '--tls', '--auth', '--dir', dir, '--logs', join(dir, 'logs')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => (out.includes('RAFTQ_SERVERS=') ? true : undefined), 60_000, 'the banner');
    const env = Object.fromEntries([...out.matchAll(/^ {2}(RAFTQ_[A-Z_]+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
    expect(Object.keys(env).sort()).toEqual(['RAFTQ_SERVERS', 'RAFTQ_TLS_CA', 'RAFTQ_TOKEN']);
    expect(out).toMatch(/http https:\/\/127\.0\.0\.1:\d+/);
    // The RAFTQ_SERVERS line stays last.
    expect(out.trimEnd().split('\n').pop()).toMatch(/RAFTQ_SERVERS=/);

    const ok = await runRaftq(['enqueue', 'dev.q', '{"n":1}', '--json'], 20_000, env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toBe('');
    const noToken = await runRaftq(['queues', 'list', '--timeout-ms', '3000'], 20_000, { ...env, RAFTQ_TOKEN: '' });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('UNAUTHENTICATED');
    const noCa = await runRaftq(['queues', 'list', '--timeout-ms', '3000'], 20_000, { ...env, RAFTQ_TLS_CA: '' });
    expect(noCa.code).toBe(1);
    const list = await runRaftq(['queues', 'list', '--json'], 20_000, env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('dev.q');

    for (const f of files(dir)) expect(readFileSync(f).includes(env['RAFTQ_TOKEN'] as string), f).toBe(false);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child?.once('exit', (c) => r(c)));
    expect(code).toBe(0);
  }, 120_000);
});
