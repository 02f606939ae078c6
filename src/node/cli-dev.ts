// `raftq dev`: a local cluster of child processes for development. The folder keeps its cluster id
// and ports (raftq-dev.json), so `raftq dev --dir D` can be stopped and started again on it. It
// exits non-zero when the cluster cannot start, prints the nodes' logs human-readable (or to a file
// with --logs), and the `RAFTQ_SERVERS=` line last, once a leader is elected. Its nodes stop with
// it however it ends, and exit by themselves if it is killed. --tls and --auth turn on TLS (dev
// certificates) and client tokens (dev-security.ts) and print what a client must export.
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { LocalCluster, stopNodesOnExit } from './local-cluster.js';
import { formatLogLine } from './log-format.js';
import { devSecurity, type DevSecurity } from './dev-security.js';

export class DevUsageError extends Error {}

const STATE_FILE = 'raftq-dev.json';

interface DevState {
  clusterId: string;
  nodes: number;
  ports: number[];
}

function readState(dir: string, nodes: number): DevState | null {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return null;
  let s: DevState;
  try {
    s = JSON.parse(readFileSync(file, 'utf8')) as DevState;
  } catch {
    throw new DevUsageError(`${file} is not valid JSON`);
  }
  if (typeof s.clusterId !== 'string' || !Array.isArray(s.ports) || typeof s.nodes !== 'number')
    throw new DevUsageError(`${file} is not a raftq dev state file`);
  if (s.nodes !== nodes) throw new DevUsageError(`--nodes: ${dir} holds a ${s.nodes}-node cluster`);
  return s;
}

async function leaderReady(cluster: LocalCluster, sec: DevSecurity): Promise<boolean> {
  for (const s of cluster.specs) {
    const st = (await sec.getJson(s.httpPort, '/status')) as { role?: string; ready?: boolean } | null;
    if (st?.role === 'leader' && st.ready === true) return true;
  }
  return false;
}

/** Resolves true once a leader is ready, false as soon as a node exited or the time is up. */
async function started(cluster: LocalCluster, sec: DevSecurity, failed: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (failed()) return false;
    if (await leaderReady(cluster, sec)) return !failed();
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

interface DevOptions {
  nodes: string;
  dir?: string;
  logLevel: string;
  logs?: string;
  startTimeoutMs: string;
  tls?: boolean;
  auth?: boolean;
}

function banner(cluster: LocalCluster, dir: string, sec: DevSecurity): string {
  const lines = [`raftq dev: cluster ${cluster.clusterId}, data under ${dir}`];
  for (const s of cluster.specs) {
    lines.push(
      `  ${s.id} (pid ${cluster.pid(s.id) ?? '-'}): client 127.0.0.1:${s.clientPort}  peer 127.0.0.1:${s.peerPort}  http ${sec.scheme}://127.0.0.1:${s.httpPort}`,
    );
  }
  if (sec.env.length > 0) lines.push('  a client needs (export all of these lines):');
  for (const [k, v] of sec.env) lines.push(`  ${k}=${v}`);
  lines.push(`  RAFTQ_SERVERS=${cluster.servers.join(',')}`);
  return lines.join('\n') + '\n';
}

async function runDev(opts: DevOptions): Promise<number> {
  const nodes = Number(opts.nodes);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'raftq-dev-'));
  mkdirSync(dir, { recursive: true });
  const state = readState(dir, nodes);
  const logFile = opts.logs === undefined ? null : createWriteStream(opts.logs, { flags: 'a' });
  const write = (s: string): void => void (logFile ?? process.stdout).write(s);
  const exits: string[] = [];
  const lastLine = new Map<string, string>();
  const ids = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  const sec = await devSecurity(dir, ids, { tls: opts.tls === true, auth: opts.auth === true });
  const cluster = await LocalCluster.create({
    nodes,
    dir,
    logLevel: opts.logLevel,
    perNode: (spec) => ({ args: sec.args(spec) }),
    ...(state ? { clusterId: state.clusterId, ports: state.ports } : {}),
    onLine: (id, line) => {
      const text = formatLogLine(line, id);
      lastLine.set(id, text);
      write(`${text}\n`);
    },
    onExit: (id, code, sig) => {
      exits.push(`${id} exited (${sig ?? code})`);
      write(`${id} exited (${sig ?? code})\n`);
    },
  });
  const ports = cluster.specs.flatMap((s) => [s.clientPort, s.peerPort, s.httpPort]);
  writeFileSync(join(dir, STATE_FILE), JSON.stringify({ clusterId: cluster.clusterId, nodes, ports }) + '\n');
  let stop: (why: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const undo = stopNodesOnExit(cluster, (why) => stop(why));
  try {
    cluster.startAll();
    const startTimeoutMs = Number(opts.startTimeoutMs);
    const ok = await Promise.race([
      started(cluster, sec, () => exits.length > 0, startTimeoutMs),
      stopped.then(() => true),
    ]);
    if (!ok) {
      const why = exits.length > 0 ? exits.join(', ') : `no leader within ${startTimeoutMs} ms`;
      const last = [...lastLine.values()].filter((l) => /ERROR|FATAL|raftq:/.test(l)).slice(-3);
      process.stderr.write(`raftq dev: cannot start: ${why}\n${last.map((l) => `  ${l}\n`).join('')}`);
      await cluster.stopAll(5_000);
      return 1;
    }
    process.stdout.write(banner(cluster, dir, sec));
    const why = await stopped;
    process.stdout.write(`raftq dev: stopping (${why})\n`);
    await cluster.stopAll();
    return 0;
  } finally {
    undo();
    logFile?.end();
  }
}

export function devCommand(setCode: (c: number) => void): Command {
  return new Command('dev')
    .description('run a local cluster of child processes (stopped on Ctrl-C); --dir can be reused')
    .addOption(new Option('--nodes <n>', 'cluster size').choices(['1', '3', '5']).default('3'))
    .option('--dir <dir>', 'folder for the data dirs, reusable across runs (default: a new temporary folder)')
    .addOption(new Option('--log-level <level>', 'node log level').default('info'))
    .option('--logs <file>', 'append the node logs to this file instead of the terminal')
    .option('--start-timeout-ms <ms>', 'time for a leader to be elected', '30000')
    .option('--tls', 'TLS on every port with development certificates in DIR/certs (made once, then reused)')
    .option('--auth', 'client tokens on: a new all-roles token each start (RAFTQ_TOKEN printed; only its hash on disk)')
    .action(async (opts: DevOptions) => {
      setCode(await runDev(opts));
    });
}
