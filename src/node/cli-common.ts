// What every client subcommand of `raftq` shares: options, output sinks, argument parsing, the
// action wrapper mapping errors to exit codes, tables, and confirmation of destructive commands.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { Client, type ClientOptions } from '../client/client.js';
import type { ClientTls } from '../client/grpc-transport.js';
import { InvalidArgumentError } from '../client/errors.js';

export class ClientUsageError extends Error {}

export interface Common {
  servers?: string;
  json?: boolean;
  timeoutMs?: string;
  yes?: boolean;
  token?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** Output sinks, replaceable in tests. */
export const cliOutput = {
  out: (s: string): void => void process.stdout.write(s),
  err: (s: string): void => void process.stderr.write(s),
  stdin: async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  },
  /** Whether a person can answer a question (stdin and stderr are terminals). */
  interactive: (): boolean => process.stdin.isTTY === true && process.stderr.isTTY === true,
  ask: async (question: string): Promise<string> => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
};

export function serversOf(o: Common): string[] {
  const raw = o.servers ?? process.env['RAFTQ_SERVERS'];
  if (raw === undefined || raw.trim() === '')
    throw new ClientUsageError('no servers: pass --servers or set RAFTQ_SERVERS');
  const list = raw.split(',').map((s) => s.trim());
  for (const s of list) {
    const port = Number(s.slice(s.lastIndexOf(':') + 1));
    if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(s) || port < 1 || port > 65535) {
      throw new ClientUsageError(`bad server address ${JSON.stringify(s)}: expected host:port`);
    }
  }
  return list;
}

export function intArg(name: string, v: string | undefined, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min)
    throw new ClientUsageError(`${name}: ${JSON.stringify(v)} is not an integer ≥ ${min}`);
  return n;
}

export function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ClientUsageError(`${what}: malformed JSON`);
  }
}

export function withCommon(cmd: Command): Command {
  return cmd
    .option('--servers <list>', 'client addresses host:port,… (default: $RAFTQ_SERVERS)')
    .option('--json', 'machine-readable output')
    .option('--timeout-ms <ms>', 'deadline per call, retries included')
    .option(
      '--token <token>',
      'bearer token when the cluster has auth on (default: $RAFTQ_TOKEN, which keeps it out of ps)',
    )
    .option('--tls-ca <file>', 'TLS: PEM CA of the cluster (default: $RAFTQ_TLS_CA); turns TLS on')
    .option('--tls-cert <file>', 'TLS client certificate, PEM (default: $RAFTQ_TLS_CERT)')
    .option('--tls-key <file>', 'TLS client key, PEM (default: $RAFTQ_TLS_KEY)');
}

/** TLS from --tls-* or RAFTQ_TLS_*: on when a CA or a client certificate is given; files read here. */
export function clientTlsOf(o: Common, env: NodeJS.ProcessEnv = process.env): ClientTls | undefined {
  const pick = (flag: string | undefined, name: string): [string, string] | null => {
    const v = flag ?? env[name];
    return v === undefined || v === '' ? null : [flag === undefined ? name : `--${kebabOf(name)}`, v];
  };
  const ca = pick(o.tlsCa, 'RAFTQ_TLS_CA');
  const cert = pick(o.tlsCert, 'RAFTQ_TLS_CERT');
  const key = pick(o.tlsKey, 'RAFTQ_TLS_KEY');
  if (ca === null && cert === null && key === null) return undefined;
  if ((cert === null) !== (key === null))
    throw new ClientUsageError('a TLS client certificate needs both --tls-cert and --tls-key (or RAFTQ_TLS_CERT/KEY)');
  const read = ([what, path]: [string, string]): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new ClientUsageError(`${what}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
  };
  return {
    ...(ca === null ? {} : { ca: read(ca) }),
    ...(cert === null || key === null ? {} : { cert: read(cert), key: read(key) }),
  };
}

function kebabOf(env: string): string {
  return env
    .replace(/^RAFTQ_/, '')
    .toLowerCase()
    .replace(/_/g, '-');
}

/** Adds `--yes` to a destructive command. */
export function withYes(cmd: Command): Command {
  return cmd.option('-y, --yes', 'do not ask for confirmation (scripts)');
}

/**
 * Asks before a destructive command on a terminal; elsewhere (a script, a pipe) `--yes` is required
 * so nothing is destroyed by a command line that was never meant to run unattended.
 */
export async function confirm(o: Common, what: string): Promise<void> {
  if (o.yes === true) return;
  if (!cliOutput.interactive()) throw new ClientUsageError(`${what}: pass --yes to confirm (not a terminal)`);
  const answer = (await cliOutput.ask(`${what}? [y/N] `)).trim().toLowerCase();
  if (answer !== 'y' && answer !== 'yes') throw new ClientUsageError(`${what}: not confirmed`);
}

export type SetCode = (c: number) => void;

/** Runs an action with a Client, mapping errors to exit codes; never throws past commander. */
export function action<A extends unknown[]>(
  setCode: SetCode,
  body: (client: Client, o: Common, ...args: A) => Promise<number | void>,
  clientOptions: Partial<ClientOptions> = {},
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const o = cmd.optsWithGlobals<Common>();
    let client: Client | null = null;
    try {
      const timeoutMs = intArg('--timeout-ms', o.timeoutMs, 1);
      const token = o.token ?? process.env['RAFTQ_TOKEN'];
      const tls = clientTlsOf(o);
      // grpc-js sends a dialled IP address as the TLS server name (Node's DEP0123 warning on every
      // command): nothing a CLI user can act on.
      if (tls) process.noDeprecation = true;
      client = new Client({
        ...clientOptions,
        ...(token ? { token } : {}),
        ...(tls ? { tls } : {}),
        servers: serversOf(o),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      });
      const code = await body(client, o, ...(args.slice(0, -2) as A));
      setCode(code ?? 0);
    } catch (e) {
      const usage = e instanceof ClientUsageError || e instanceof InvalidArgumentError;
      cliOutput.err(`raftq: ${e instanceof Error ? e.message : String(e)}\n`);
      setCode(usage ? 2 : 1);
    } finally {
      // Bounded: a cluster that went away must not keep the command from exiting.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        client?.close({ timeoutMs: 2_000 }).catch(() => undefined),
        new Promise<void>((r) => (timer = setTimeout(r, 3_000))),
      ]);
      clearTimeout(timer);
    }
  };
}

export function print(o: Common, json: unknown, text: () => string): void {
  cliOutput.out(o.json ? `${JSON.stringify(json, jsonBytes)}\n` : text());
}

/** Bytes and BigInts in JSON output: UTF-8 text when printable, else base64; BigInt as a decimal string. */
export function jsonBytes(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array || (typeof v === 'object' && v !== null && (v as { type?: string }).type === 'Buffer')) {
    const b = Buffer.from(v instanceof Uint8Array ? v : ((v as { data: number[] }).data ?? []));
    const s = b.toString('utf8');
    return /^[\x20-\x7e\s]*$/.test(s) ? s : { base64: b.toString('base64') };
  }
  return v;
}

export function table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return (
    cells
      .map((r) =>
        r
          .map((c, i) => (c ?? '').padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function asList(v: unknown): Array<Record<string, unknown>> {
  return Array.isArray(v) ? (v as Array<Record<string, unknown>>) : [];
}

/** Resolves on SIGINT / SIGTERM (long-running commands: worker, events). */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
