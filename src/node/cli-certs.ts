// `raftq certs dev DIR`: a development CA with node and client certificates (dev-certs.ts), and the
// TLS and client-limit flags of `raftq start`. Production certificates come from the operator's own CA.
import { Command, Option } from 'commander';
import { ClientUsageError, cliOutput, type SetCode } from './cli-common.js';
import { makeDevCerts } from './dev-certs.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The node's TLS settings (config.ts tlsCertFile, tlsKeyFile, tlsCaFile, tlsClientAuth). */
export function withTlsFlags(cmd: Command): Command {
  return cmd
    .option('--tls-cert-file <file>', 'PEM certificate of this node (TLS on the client, peer and admin ports)')
    .option('--tls-key-file <file>', 'PEM private key of --tls-cert-file')
    .option('--tls-ca-file <file>', 'PEM cluster CA: peers (mutual TLS) and client certificates must be signed by it')
    .addOption(
      new Option('--tls-client-auth <mode>', 'client port: require a client certificate signed by the CA').choices([
        'none',
        'require',
      ]),
    );
}

/** The client port's per-client limits (config.ts limit*, rate-limits.ts). */
export function withLimitFlags(cmd: Command): Command {
  return cmd
    .option('--limit-session-opens-per-sec <n>', 'session opens per second per client address and token (0: off; 200)')
    .option('--limit-requests-per-sec <n>', 'calls per second per token, or per address without one (0: off, default)')
    .option('--limit-calls-in-flight-per-address <n>', 'calls in flight per client address (0: off, default)')
    .option(
      '--limit-token-checks-per-sec <n>',
      'scrypt checks of tokens not yet proven, per client address (0: off; 20)',
    )
    .option('--limit-connections-per-address <n>', 'open client-port connections per client address (0: off, default)');
}

interface DevOptions {
  nodes: string;
  clients: string;
  host: string[];
  days: string;
  json?: boolean;
}

export function certsCommand(setCode: SetCode): Command {
  const dev = new Command('dev')
    .description('write a development CA and node and client certificates into DIR (never for production)')
    .argument('<dir>', 'folder to write into (created if missing; existing files are replaced)')
    .option(
      '--nodes <ids>',
      'node ids, comma-separated (each certificate names its id, localhost, 127.0.0.1)',
      'n1,n2,n3',
    )
    .option('--clients <names>', 'client certificate names, comma-separated', 'client')
    .option('--host <name>', 'extra DNS name or IP address in every node certificate, repeatable', collect, [])
    .option('--days <n>', 'validity in days', '365')
    .option('--json', 'machine-readable output')
    .action(async (dir: string, o: DevOptions) => {
      try {
        setCode(await runDev(dir, o));
      } catch (e) {
        cliOutput.err(`raftq: ${e instanceof Error ? e.message : String(e)}\n`);
        setCode(e instanceof ClientUsageError ? 2 : 1);
      }
    });
  return new Command('certs').description('TLS certificates').addCommand(dev);
}

function collect(v: string, all: string[]): string[] {
  return [...all, v];
}

function names(flag: string, list: string): string[] {
  const out = list.split(',').map((s) => s.trim());
  for (const n of out) {
    if (!NAME_RE.test(n) || n === 'ca') throw new ClientUsageError(`${flag}: "${n}" is not a usable name`);
  }
  if (new Set(out).size !== out.length) throw new ClientUsageError(`${flag}: a name is listed twice`);
  return out;
}

async function runDev(dir: string, o: DevOptions): Promise<number> {
  const nodes = names('--nodes', o.nodes);
  const clients = names('--clients', o.clients);
  if (nodes.some((n) => clients.includes(n))) throw new ClientUsageError('--clients: a client is named like a node');
  const days = Number(o.days);
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw new ClientUsageError('--days: an integer in 1..3650');
  const files = await makeDevCerts(dir, { nodes, clients, days, hosts: o.host });
  if (o.json === true) {
    cliOutput.out(`${JSON.stringify(files)}\n`);
    return 0;
  }
  const first = nodes[0] as string;
  const client = clients[0] as string;
  cliOutput.out(
    [
      `wrote a development CA and certificates into ${dir} (keys mode 600; never for production)`,
      `a node:    raftq start --id ${first} ... --tls-cert-file ${files.nodes[first]?.cert} --tls-key-file ${files.nodes[first]?.key} --tls-ca-file ${files.ca}`,
      `a client:  export RAFTQ_TLS_CA=${files.ca}`,
      `           export RAFTQ_TLS_CERT=${files.clients[client]?.cert} RAFTQ_TLS_KEY=${files.clients[client]?.key}  # only with --tls-client-auth require`,
      '',
    ].join('\n'),
  );
  return 0;
}
