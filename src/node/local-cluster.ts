// A local cluster of real node processes on loopback: used by `raftq dev`, the demo, the
// integration tests and the fault-injection suite. Processes are ended by the PID we started.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from './free-ports.js';

export interface LocalNodeSpec {
  id: string;
  clientPort: number;
  peerPort: number;
  httpPort: number;
  dataDir: string;
}

export interface LocalClusterOptions {
  nodes: number;
  /** Folder holding one data dir per node. */
  dir: string;
  clusterId?: string;
  /**
   * The cluster secret file every node gets (--cluster-secret-file). Default: `dir/cluster-secret`,
   * written with 32 random bytes if missing (kept across restarts of the same dir); false: none.
   */
  clusterSecretFile?: string | false;
  logLevel?: string;
  heartbeatMs?: number;
  electionTicks?: number;
  snapshotEveryEntries?: number;
  logMemoryMib?: number;
  /** Node.js flags for every node process (e.g. `--cpu-prof` for profiling). */
  execArgv?: string[];
  /** Extra environment for every node (e.g. the storage fault layer switch in tests). */
  env?: Record<string, string>;
  /** Per-node extra arguments or env, e.g. dialing peers through a fault proxy. */
  perNode?: (spec: LocalNodeSpec) => { args?: string[]; env?: Record<string, string> };
  /** Receives each output line of each node, prefixed by nothing (the caller prefixes). */
  onLine?: (id: string, line: string, stream: 'stdout' | 'stderr') => void;
  onExit?: (id: string, code: number | null, signal: NodeJS.Signals | null) => void;
  /** Client, peer and HTTP port of each node in turn (3 per node), e.g. the ones of a previous run. */
  ports?: number[];
  /**
   * The nodes exit by themselves when this process is gone (default true): they get an IPC channel
   * and this pid (RAFTQ_PARENT_PID), and `exitWithParent` in the node shuts it down when either
   * goes. Without it, a launcher killed by SIGKILL would leave its nodes running.
   */
  exitWithParent?: boolean;
}

const here = dirname(fileURLToPath(import.meta.url));
/** bin/raftq.js, from src/node (tsx) or dist/src/node (compiled). */
export const RAFTQ_BIN = resolve(
  here,
  here.endsWith(join('dist', 'src', 'node')) ? '../../../bin/raftq.js' : '../../bin/raftq.js',
);

/**
 * The node flags every member runs with: the ones in bin/raftq.js's `#!/usr/bin/env -S node …` line
 * (a unit test keeps the two equal), passed here because a node started as `node bin/raftq.js`
 * skips that line. A 32 MiB young-generation semi-space (V8's default is 16): with 1,000,000 tasks
 * waiting, half the scavenges and 15–20 % less CPU per task (docs/decisions.md).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];

/** Writes a new cluster secret (32 random bytes, hex), readable by this user only. */
export function writeClusterSecret(file: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
}

export { freePorts } from './free-ports.js';

export class LocalCluster {
  readonly specs: LocalNodeSpec[] = [];
  readonly clusterId: string;
  /** The secret file passed to every node, or null. */
  readonly clusterSecretFile: string | null;
  private readonly procs = new Map<string, ChildProcess>();

  private constructor(private readonly opts: LocalClusterOptions) {
    this.clusterId = opts.clusterId ?? `c-${randomBytes(6).toString('hex')}`;
    this.clusterSecretFile =
      opts.clusterSecretFile === false ? null : (opts.clusterSecretFile ?? join(opts.dir, 'cluster-secret'));
  }

  static async create(opts: LocalClusterOptions): Promise<LocalCluster> {
    if (opts.nodes < 1 || opts.nodes > 9) throw new Error(`nodes: ${opts.nodes} is not in 1..9`);
    const c = new LocalCluster(opts);
    if (opts.ports !== undefined && opts.ports.length !== opts.nodes * 3)
      throw new Error(`ports: ${opts.ports.length} given for ${opts.nodes} nodes (3 each)`);
    if (c.clusterSecretFile !== null && !existsSync(c.clusterSecretFile)) writeClusterSecret(c.clusterSecretFile);
    const ports = opts.ports ?? (await freePorts(opts.nodes * 3));
    for (let i = 0; i < opts.nodes; i++) {
      const id = `n${i + 1}`;
      c.specs.push({
        id,
        clientPort: ports[i * 3] as number,
        peerPort: ports[i * 3 + 1] as number,
        httpPort: ports[i * 3 + 2] as number,
        dataDir: join(opts.dir, id),
      });
    }
    return c;
  }

  get servers(): string[] {
    return this.specs.map((s) => `127.0.0.1:${s.clientPort}`);
  }

  spec(id: string): LocalNodeSpec {
    const s = this.specs.find((x) => x.id === id);
    if (!s) throw new Error(`no node ${id}`);
    return s;
  }

  peersFlag(): string {
    return this.specs.map((s) => `${s.id}=127.0.0.1:${s.peerPort}`).join(',');
  }

  args(spec: LocalNodeSpec): string[] {
    const o = this.opts;
    const args = [
      'start',
      '--id',
      spec.id,
      '--listen',
      `127.0.0.1:${spec.clientPort}`,
      '--peer-listen',
      `127.0.0.1:${spec.peerPort}`,
      '--http',
      `127.0.0.1:${spec.httpPort}`,
      '--peers',
      this.peersFlag(),
      '--data-dir',
      spec.dataDir,
      '--cluster-id',
      this.clusterId,
      '--log-level',
      o.logLevel ?? 'warn',
    ];
    if (this.clusterSecretFile !== null) args.push('--cluster-secret-file', this.clusterSecretFile);
    if (o.heartbeatMs) args.push('--heartbeat-ms', String(o.heartbeatMs));
    if (o.electionTicks) args.push('--election-ticks', String(o.electionTicks));
    if (o.snapshotEveryEntries) args.push('--snapshot-every-entries', String(o.snapshotEveryEntries));
    if (o.logMemoryMib !== undefined) args.push('--log-memory-mib', String(o.logMemoryMib));
    return args;
  }

  start(id: string): ChildProcess {
    if (this.procs.has(id)) throw new Error(`node ${id} is already running`);
    const spec = this.spec(id);
    mkdirSync(spec.dataDir, { recursive: true });
    const extra = this.opts.perNode?.(spec) ?? {};
    const argv = [...NODE_FLAGS, ...(this.opts.execArgv ?? []), RAFTQ_BIN, ...this.args(spec), ...(extra.args ?? [])];
    const watch = this.opts.exitWithParent !== false;
    const child = spawn(process.execPath, argv, {
      env: {
        // glibc maps large buffers on their own and returns them when freed (docs/operations.md, Memory).
        MALLOC_MMAP_THRESHOLD_: '131072',
        ...process.env,
        ...this.opts.env,
        ...extra.env,
        ...(watch ? { RAFTQ_PARENT_PID: String(process.pid) } : {}),
      },
      stdio: watch ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    });
    // The channel only tells the node we are alive: it must not keep this process running.
    child.channel?.unref();
    this.procs.set(id, child);
    for (const stream of ['stdout', 'stderr'] as const) {
      let buf = '';
      child[stream]?.setEncoding('utf8');
      child[stream]?.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          this.opts.onLine?.(id, buf.slice(0, nl), stream);
          buf = buf.slice(nl + 1);
        }
      });
    }
    child.on('exit', (code, signal) => {
      if (this.procs.get(id) === child) this.procs.delete(id);
      this.opts.onExit?.(id, code, signal);
    });
    return child;
  }

  startAll(): void {
    for (const s of this.specs) this.start(s.id);
  }

  pid(id: string): number | undefined {
    return this.procs.get(id)?.pid;
  }

  running(id: string): boolean {
    return this.procs.has(id);
  }

  /** Sends a signal to the process we started for `id`; resolves when it exited (for terminating signals). */
  async signal(id: string, sig: NodeJS.Signals, waitExitMs = 15_000): Promise<void> {
    const child = this.procs.get(id);
    if (!child || child.pid === undefined) return;
    const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
    child.kill(sig);
    if (sig === 'SIGSTOP' || sig === 'SIGCONT') return;
    await withDeadline(exited, waitExitMs, `node ${id} did not exit after ${sig}`);
  }

  kill(id: string): Promise<void> {
    return this.signal(id, 'SIGKILL');
  }

  /** SIGTERM everything we started, SIGKILL what is still there after the grace period. */
  async stopAll(graceMs = 10_000): Promise<void> {
    await Promise.all(
      [...this.procs.keys()].map(async (id) => {
        try {
          await this.signal(id, 'SIGTERM', graceMs);
        } catch {
          await this.signal(id, 'SIGKILL');
        }
      }),
    );
  }

  /** Synchronous last resort for exit handlers. */
  killAllNow(): void {
    for (const child of this.procs.values()) child.kill('SIGKILL');
  }
}

/**
 * In a node started by a LocalCluster: shut down (SIGTERM to ourselves, the orderly path) when the
 * launcher is gone — its IPC channel closed, or our parent pid changed (reparented).
 */
export function exitWithParent(env: NodeJS.ProcessEnv = process.env): void {
  const parent = Number(env['RAFTQ_PARENT_PID']);
  if (!Number.isSafeInteger(parent) || parent <= 0) return;
  let gone = false;
  const leave = (): void => {
    if (gone) return;
    gone = true;
    process.kill(process.pid, 'SIGTERM');
  };
  const channel = process.channel !== undefined;
  if (channel) {
    process.channel?.unref();
    process.once('disconnect', leave);
  }
  // With the channel, its closing says it at once: the poll is only a backstop (an idle node's wake-ups count).
  const timer = setInterval(
    () => {
      if (process.ppid !== parent) leave();
    },
    channel ? 5_000 : 500,
  );
  timer.unref();
  if (process.ppid !== parent) leave();
}

/**
 * Stops a launcher's nodes whenever the launcher ends: SIGINT, SIGTERM, SIGHUP and a closed stdout
 * (EPIPE, e.g. `raftq demo | head`) call `onStop` (an orderly stop); any exit, an uncaught exception
 * included, SIGKILLs what is still running (synchronous, the last resort). Returns the undo.
 */
export function stopNodesOnExit(cluster: LocalCluster, onStop: (why: string) => void): () => void {
  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    onStop(why);
  };
  const onSignal = (sig: NodeJS.Signals): void => stop(sig);
  const onPipe = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') stop('EPIPE');
  };
  const onExit = (): void => cluster.killAllNow();
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of signals) process.on(sig, onSignal);
  process.stdout.on('error', onPipe);
  process.stderr.on('error', onPipe);
  process.on('exit', onExit);
  return () => {
    for (const sig of signals) process.off(sig, onSignal);
    process.stdout.off('error', onPipe);
    process.stderr.off('error', onPipe);
    process.off('exit', onExit);
  };
}

export async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what} (after ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` until it returns a non-undefined value or the deadline passes. */
export async function waitFor<T>(
  cond: () => Promise<T | undefined> | T | undefined,
  ms: number,
  what: string,
  everyMs = 50,
): Promise<T> {
  const end = performance.now() + ms;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (performance.now() > end) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
