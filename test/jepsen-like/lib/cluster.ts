// The cluster under test: real `raftq start` processes (LocalCluster) whose every peer link and
// every client link runs through its own FaultProxy, plus the fault controls the nemeses use
// (kill / pause / power loss / clock / fsync / file corruption). Processes are ended by the PID
// we started. The cluster remembers which nodes it took down, so heal() can undo everything.
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminCallError, adminCall } from '../../../src/node/admin-client.js';
import { LocalCluster, waitFor, type LocalNodeSpec } from '../../../src/node/local-cluster.js';
import { TEST_HOOKS_EXEC_ARGV } from '../../support/hooks.js';
import { FaultNetwork } from './fault-proxy.js';
import type { Rng } from './rng.js';

export interface NodeStatus {
  id: string;
  role: string;
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  ready: boolean;
  members?: { id: string; role: string }[];
}

export interface DigestPoint {
  index: number;
  digest: string;
}

/** How LocalCluster is obtained: from this checkout, or from a private (maybe patched) copy of the build. */
export type ClusterFactory = (opts: Parameters<typeof LocalCluster.create>[0]) => Promise<LocalCluster>;

export interface JepsenClusterOptions {
  nodes: number;
  dir: string;
  heartbeatMs?: number;
  electionTicks?: number;
  snapshotEveryEntries?: number;
  /** RAFTQ_TEST_DISK_FAULT_MODE value: '1' (fault layer) or 'drop-sync' (planted bug). */
  storageFaults?: string;
  factory?: ClusterFactory;
  /** Receives harness events (one line each). */
  log?: (line: string) => void;
}

const httpTimeoutMs = 1_500;

export class JepsenCluster {
  readonly ids: string[];
  /** Peer links: node -> node. */
  readonly peers = new FaultNetwork();
  /** Client links: 'client' -> node (F3 client↔node partitions). */
  readonly clients = new FaultNetwork();
  readonly down = new Set<string>();
  readonly paused = new Set<string>();
  /** Nodes whose clock or fsync behaviour was changed; heal resets them. */
  readonly skewed = new Set<string>();
  readonly slowed = new Set<string>();
  /** Exits we did not cause and cannot explain (crashes): violations. */
  readonly unexpectedExits: { id: string; code: number | null; signal: string | null }[] = [];
  /** Nodes whose files a nemesis damaged (F7). */
  readonly corrupted = new Set<string>();
  /**
   * Damaged nodes that refused to start (exit 3, by design): out of the cluster until replaced,
   * which needs the membership commands. The others must carry on.
   */
  readonly refused = new Set<string>();
  /** Nodes told to fail an fsync or to lose power: they must stop, so their exit is expected. */
  private readonly mustStop = new Set<string>();
  private readonly expectingExit = new Set<string>();
  private readonly clientAddr = new Map<string, string>();
  /** `--join` for a node whose data dir was wiped after its removal (the member nemesis). */
  readonly joinArgs = new Map<string, string[]>();
  /** How often each node's data dir was wiped: its identity (and term) start anew each time. */
  readonly generations = new Map<string, number>();

  private constructor(
    readonly local: LocalCluster,
    private readonly opts: JepsenClusterOptions,
  ) {
    this.ids = local.specs.map((s) => s.id);
  }

  static async create(opts: JepsenClusterOptions): Promise<JepsenCluster> {
    mkdirSync(join(opts.dir, 'logs'), { recursive: true });
    const peerArgs = new Map<string, string[]>();
    // onExit is wired before the instance exists.
    const hook: { self?: JepsenCluster } = {};
    const factory = opts.factory ?? ((o) => LocalCluster.create(o));
    const local = await factory({
      nodes: opts.nodes,
      dir: join(opts.dir, 'data'),
      logLevel: 'info',
      heartbeatMs: opts.heartbeatMs ?? 50,
      electionTicks: opts.electionTicks ?? 10,
      ...(opts.snapshotEveryEntries !== undefined ? { snapshotEveryEntries: opts.snapshotEveryEntries } : {}),
      // The test launcher preload reads these; the production binary does not.
      execArgv: TEST_HOOKS_EXEC_ARGV,
      env: { RAFTQ_TEST_DISK_FAULT_MODE: opts.storageFaults ?? '1', RAFTQ_TEST_CLOCK: '1' },
      perNode: (spec: LocalNodeSpec) => ({
        args: [...(peerArgs.get(spec.id) ?? []), ...(hook.self?.joinArgs.get(spec.id) ?? [])],
      }),
      onLine: (id, line) => appendFileSync(join(opts.dir, 'logs', `${id}.log`), line + '\n'),
      onExit: (id, code, signal) => hook.self?.onExit(id, code, signal),
    });
    const c = new JepsenCluster(local, opts);
    hook.self = c;
    for (const from of local.specs) {
      const parts: string[] = [];
      for (const to of local.specs) {
        if (to.id === from.id) parts.push(`${to.id}=127.0.0.1:${to.peerPort}`);
        else parts.push(`${to.id}=${await c.peers.link(from.id, to.id, `127.0.0.1:${to.peerPort}`)}`);
      }
      const clientProxy = await c.clients.link('client', from.id, `127.0.0.1:${from.clientPort}`);
      c.clientAddr.set(from.id, clientProxy);
      // commander keeps the last --peers; --advertise makes NOT_LEADER hints point at the proxy.
      peerArgs.set(from.id, ['--peers', parts.join(','), '--advertise', clientProxy]);
    }
    return c;
  }

  /** Client addresses (through the client proxies). */
  get servers(): string[] {
    return this.ids.map((id) => this.clientAddress(id));
  }

  clientAddress(id: string): string {
    const a = this.clientAddr.get(id);
    if (a === undefined) throw new Error(`no client link for ${id}`);
    return a;
  }

  spec(id: string): LocalNodeSpec {
    return this.local.spec(id);
  }

  log(line: string): void {
    this.opts.log?.(line);
  }

  private onExit(id: string, code: number | null, signal: string | null): void {
    if (this.expectingExit.delete(id)) return;
    this.down.add(id);
    this.paused.delete(id);
    this.log(`node ${id} exited on its own (code ${String(code)}, signal ${String(signal)})`);
    if (code === 3 && this.corrupted.has(id)) {
      this.refused.add(id);
      this.log(`node ${id} refuses to start on its damaged storage: out until replaced (needs membership)`);
    } else if (this.mustStop.delete(id)) this.log(`node ${id} stopped on its failed storage, as it must`);
    else this.unexpectedExits.push({ id, code, signal });
  }

  /** Nodes expected to take part: all but those that refused their damaged storage. */
  get live(): string[] {
    return this.ids.filter((id) => !this.refused.has(id));
  }

  startAll(): void {
    for (const id of this.ids) this.local.start(id);
  }

  async kill(id: string): Promise<void> {
    if (this.local.running(id)) {
      this.expectingExit.add(id);
      await this.local.kill(id);
    }
    this.down.add(id);
    this.paused.delete(id);
    this.mustStop.delete(id);
  }

  start(id: string): void {
    if (this.local.running(id) || this.refused.has(id)) return;
    this.local.start(id);
    this.down.delete(id);
  }

  async pause(id: string): Promise<void> {
    const pid = this.local.pid(id);
    if (pid === undefined || this.paused.has(id)) return;
    // By the PID we started; LocalCluster.signal would leave an exit listener per pause behind.
    process.kill(pid, 'SIGSTOP');
    this.paused.add(id);
  }

  async resume(id: string): Promise<void> {
    const pid = this.local.pid(id);
    if (!this.paused.has(id)) return;
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
    this.paused.delete(id);
  }

  /** F6: drop every write whose fsync had not completed, then SIGKILL. Returns false if the node did not answer. */
  async powerLoss(id: string): Promise<boolean> {
    // Its storage now refuses writes, so the node may stop on its own before the SIGKILL.
    this.mustStop.add(id);
    const answered = this.paused.has(id) ? false : await this.post(id, '/debug/fault/power-loss', '');
    await this.kill(id);
    return answered;
  }

  async setClock(id: string, o: { wallOffsetMs?: number; monoRate?: number }): Promise<boolean> {
    this.skewed.add(id);
    return this.post(id, '/debug/fault/clock', JSON.stringify(o));
  }

  async slowFsync(id: string, ms: number): Promise<boolean> {
    this.slowed.add(id);
    return this.post(id, '/debug/fault/slow-fsync', String(ms));
  }

  async failFsync(id: string, count: number): Promise<boolean> {
    this.mustStop.add(id);
    return this.post(id, '/debug/fault/fail-fsync', String(count));
  }

  /**
   * F7 on a stopped node: a torn tail. Truncates the newest LevelDB log file inside its last record
   * or deeper; the node must come back and catch up, or refuse to start when committed records are
   * gone (then it is out until replaced). (Bit
   * flips inside the log make the node refuse to start, by design: bringing it back then means
   * replacing it, which needs the membership commands. See `flipBits`.)
   */
  tearTail(id: string, rng: Rng): string {
    const newest = this.newestLog(id);
    if (newest === undefined) return 'nothing to tear';
    this.corrupted.add(id);
    const bytes = readFileSync(newest.path);
    // Half the time only the last record is torn (a crash mid-write), else a deep cut (a lying disk).
    const cut =
      rng.next() < 0.5
        ? bytes.length - 1 - rng.int(Math.min(64, bytes.length - 1))
        : Math.floor(bytes.length * (0.5 + rng.next() * 0.5));
    writeFileSync(newest.path, bytes.subarray(0, cut));
    return `truncated ${newest.name} from ${bytes.length} to ${cut} bytes`;
  }

  /** Flips `flips` random bits in the second half of the newest LevelDB log file of a stopped node. */
  flipBits(id: string, rng: Rng, flips = 2): string {
    const newest = this.newestLog(id);
    if (newest === undefined) return 'nothing to flip';
    this.corrupted.add(id);
    const bytes = readFileSync(newest.path);
    const at: number[] = [];
    for (let i = 0; i < flips; i += 1) {
      const pos = Math.floor(bytes.length / 2 + rng.next() * (bytes.length / 2));
      bytes[pos] = (bytes[pos] ?? 0) ^ (1 << rng.int(8));
      at.push(pos);
    }
    writeFileSync(newest.path, bytes);
    return `flipped bits of ${newest.name} at ${at.join(',')}`;
  }

  private newestLog(id: string): { name: string; path: string } | undefined {
    if (this.local.running(id)) throw new Error(`node ${id} is running: its files cannot be edited`);
    const db = join(this.spec(id).dataDir, 'db');
    const logs = readdirSync(db)
      .filter((f) => f.endsWith('.log') && statSync(join(db, f)).size > 64)
      .sort();
    const name = logs[logs.length - 1];
    return name === undefined ? undefined : { name, path: join(db, name) };
  }

  /**
   * Asks the leader (through every node's admin port) to remove `id` from the membership: 'ok' or
   * the refusal's code (NO_QUORUM, CHANGE_IN_PROGRESS, …). `via`: ask only these nodes (the majority
   * side of a partition, so that a cut-off ex-leader's NO_QUORUM does not hide the real leader).
   */
  async removeMember(id: string, via: string[] = this.ids): Promise<string> {
    // Every node: a leader asked to remove itself hands over first, and the new leader removes it.
    const addresses = via.map((x) => `127.0.0.1:${this.spec(x).httpPort}`);
    try {
      await adminCall('/admin/members/remove', {
        addresses,
        body: { id },
        deadlineMs: 5_000,
        // Right after another fault the cluster may still be settling: NO_QUORUM may clear.
        retryOn: ['CHANGE_IN_PROGRESS', 'TRANSFER_IN_PROGRESS', 'NO_QUORUM'],
        requestTimeoutMs: httpTimeoutMs,
      });
      return 'ok';
    } catch (e) {
      return e instanceof AdminCallError ? e.code : String(e);
    }
  }

  /** Deletes a stopped node's data dir; its next start joins the cluster anew (--join). */
  wipe(id: string): void {
    if (this.local.running(id)) throw new Error(`node ${id} is running: its data dir cannot be wiped`);
    rmSync(this.spec(id).dataDir, { recursive: true, force: true });
    const others = this.ids.filter((x) => x !== id).map((x) => `127.0.0.1:${this.spec(x).httpPort}`);
    this.joinArgs.set(id, ['--join', others.join(',')]);
    this.generations.set(id, (this.generations.get(id) ?? 0) + 1);
  }

  /** Whether the leader's membership has `id` as a voter. */
  async isVoter(id: string): Promise<boolean> {
    const l = await this.leader();
    return l?.members?.some((m) => m.id === id && m.role !== 'learner') ?? false;
  }

  async status(id: string): Promise<NodeStatus | null> {
    if (!this.local.running(id) || this.paused.has(id)) return null;
    const r = await this.get(id, '/status');
    return r === null ? null : (r as NodeStatus);
  }

  async digests(id: string): Promise<DigestPoint[] | null> {
    const r = await this.get(id, '/debug/digests');
    return Array.isArray(r) ? (r as DigestPoint[]) : null;
  }

  /** The node that says it is leader with the highest term, among the reachable ones. */
  async leader(): Promise<NodeStatus | undefined> {
    const all = await Promise.all(this.ids.map((id) => this.status(id)));
    let best: NodeStatus | undefined;
    for (const s of all) if (s?.role === 'leader' && (best === undefined || s.term > best.term)) best = s;
    return best;
  }

  /** Undoes every fault: network, pauses, clocks, slow disks, then restarts downed nodes. */
  async heal(): Promise<void> {
    this.peers.heal();
    this.clients.heal();
    for (const id of [...this.paused]) await this.resume(id);
    for (const id of [...this.skewed])
      if (await this.setClock(id, { wallOffsetMs: 0, monoRate: 1 })) this.skewed.delete(id);
    for (const id of [...this.slowed]) if (await this.slowFsync(id, 0)) this.slowed.delete(id);
    for (const id of [...this.down]) this.start(id);
    // A node that does not come back is the checks' business (L1), not a harness failure.
    await waitFor(
      async () => {
        const st = await Promise.all(this.live.map((id) => this.status(id)));
        return st.every((s) => s !== null) ? true : undefined;
      },
      30_000,
      'every node answering /status after heal',
      100,
    ).catch((e: unknown) => this.log(`heal: ${String(e)}`));
    this.skewed.clear();
    this.slowed.clear();
  }

  /** Waits until every node has applied the leader's commit index (all equal). */
  async converged(timeoutMs: number): Promise<NodeStatus[]> {
    return waitFor(
      async () => {
        const st = await Promise.all(this.live.map((id) => this.status(id)));
        if (st.some((s) => s === null)) return undefined;
        const all = st as NodeStatus[];
        const leaders = all.filter((s) => s.role === 'leader');
        if (leaders.length !== 1) return undefined;
        const commit = leaders[0]!.commitIndex;
        return all.every((s) => s.appliedIndex === commit && s.commitIndex === commit && s.ready) ? all : undefined;
      },
      timeoutMs,
      'every node applied the same commit index under one leader',
      200,
    );
  }

  async close(): Promise<void> {
    for (const id of [...this.paused]) await this.resume(id).catch(() => {});
    for (const id of this.ids) this.expectingExit.add(id);
    await this.local.stopAll(5_000);
    await this.peers.close();
    await this.clients.close();
  }

  /** Synchronous last resort (process exit handlers). */
  killAllNow(): void {
    for (const id of this.ids) this.expectingExit.add(id);
    this.local.killAllNow();
  }

  private async post(id: string, path: string, body: string): Promise<boolean> {
    if (!this.local.running(id) || this.paused.has(id)) return false;
    try {
      const r = await fetch(`http://127.0.0.1:${this.spec(id).httpPort}${path}`, {
        method: 'POST',
        body,
        signal: AbortSignal.timeout(httpTimeoutMs),
      });
      return r.ok;
    } catch {
      return false;
    }
  }

  private async get(id: string, path: string): Promise<unknown> {
    try {
      const r = await fetch(`http://127.0.0.1:${this.spec(id).httpPort}${path}`, {
        signal: AbortSignal.timeout(httpTimeoutMs),
      });
      return r.ok ? await r.json() : null;
    } catch {
      return null;
    }
  }
}
