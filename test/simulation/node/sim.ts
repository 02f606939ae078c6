// The whole node under the deterministic simulation (issue 4): 3 or 5 nodes, each the real
// NodeDriver + RaftNode + QueueStateMachine over a simulated disk (fsync delay, power loss) and
// per-node clocks (monotonic offset and drift, wall offset and jumps); the real client service in
// front of each node; SDK clients on their default path (coalesced Submits, sessions, retries,
// leases; producers, workers, waitFor waiters and an events() subscriber) over a lossy client
// network. One scheduler drives it all in virtual time, so a seed replays exactly.
// Raft safety and the queue's promises are checked as the run goes; after the faults stop, the
// cluster must drain every task (liveness).
import { Client } from '../../../src/client/client.js';
import { sleep } from '../../../src/client/clock.js';
import { CoalescingTransport } from '../../../src/client/coalesce.js';
import { NonRetryableError } from '../../../src/client/errors.js';
import type { Message as WireMessage, Method } from '../../../src/client/transport.js';
import type { Worker } from '../../../src/client/worker.js';
import { NodeDriver, type DriverLogger } from '../../../src/node/driver.js';
import type { SessionCommand, TaskEvent } from '../../../src/protocol/commands.js';
import { makeRaftConfig } from '../../../src/raft/config.js';
import { RaftNode } from '../../../src/raft/node.js';
import { Rng } from '../../../src/raft/rng.js';
import {
  EntryType,
  MessageType,
  type Entry,
  type Member,
  type Membership,
  type Message,
} from '../../../src/raft/types.js';
import { decodeEnvelope } from '../../../src/protocol/codec.js';
import { createClientService } from '../../../src/rpc/client-service.js';
import { decodeMessage, encodeMessage } from '../../../src/rpc/peer-codec.js';
import type { ClientExecutor } from '../../../src/rpc/executor.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { SafetyChecker } from '../checker.js';
import { BeliefChecker, QueueTracker } from './checks.js';
import { ClientNet, SimTransport, type Endpoint } from './client-net.js';
import { ClientClock, MonoClock, NodeClock, RHO, WALL_EPOCH, driftRate, serviceClock } from './clocks.js';
import { SimDurableLog } from './disk.js';
import { SimHistory, readAll } from './history.js';
import { Observers } from './observers.js';
import { Scheduler } from './scheduler.js';
import { SimVersions, type VersionsOutcome, type VersionsPlan } from './versions.js';
import { SM_MAX } from '../../../src/statemachine/version.js';

export interface NodeSimOptions {
  seed: number;
  nodes: number;
  /** Simulated ms with faults and producers. */
  faultMs?: number;
  /** Bound on the drain after the faults stop. */
  livenessMs?: number;
  /** Monotonic clocks' rates differ by at most this much (docs/design.md §2's ρmax is 0.001). */
  rho?: number;
  /** Multiplies every node's monotonic rate: > 1 + rho breaks the documented bound (expected failure). */
  nodeRateFactor?: number;
  /**
   * Do not fail on a leader stamping mono below its applied mono (a driver bug fixed in fbc2251, see
   * node-regressions.test.ts); the drain then gets the lag on top of its bound (liveness only).
   */
  tolerateLeaderMonoLag?: boolean;
  /** The workers' long-poll hold (the margin only covers ρ, so holds above ~500 ms test heldMs). */
  maxHoldMs?: number;
  /** A planted bug, to show the checks catch it (test only). */
  plant?:
    | 'ack-before-fsync'
    | 'mono-from-wall'
    | 'leader-self-before-fsync'
    | 'commit-unsynced-read'
    | 'stale-deferred-commit'
    | 'snapshot-without-cow'
    | 'restore-loses-headers'
    | 'snapshot-short-bin'
    | 'snapshot-early-reuse'
    | 'read-back-shifted'
    | 'read-back-unchecked'
    | 'compaction-shifts-payload'
    | 'snapshot-skips-chunk'
    | 'send-before-write'
    | 'complete-early'
    | null;
  /** Bytes of applied entries' data each node keeps in memory (log-memory.ts); the rest is read back when needed. */
  logMemoryBytes?: number;
  /** Follower (stale) reads on every node every this many ms, checked never to go back (0: none). */
  staleReadEveryMs?: number;
  /** The SDK clients' call timeout (retries included). */
  clientTimeoutMs?: number;
  /** fsync latency range of every simulated disk. */
  fsyncMs?: [number, number];
  /** Chance that the whole cluster loses power at once during the faults. */
  clusterPowerLossChance?: number;
  /** Check the persistence contract on every message (off: only its consequences are caught). */
  wireChecks?: boolean;
  /** Run the drain after the faults and check it (off: stop when the faults stop). */
  liveness?: boolean;
  /** Handler durations [min, max] in ms instead of the default mix (mostly short, some past the belief). */
  handlerMs?: [number, number] | null;
  crashes?: number;
  partitions?: number;
  clientBlackouts?: number;
  wallJumps?: number;
  trace?: boolean;
  /** State machine versions (issue 16, versions.ts): capped replicas and an activation (null: none). */
  versions?: VersionsPlan | null;
  /**
   * Compare replicas' digests at every this many indexes (default: 1, and 100 for every third seed).
   * Taking the digest hashes the answers cached since the last one, so checking every index would
   * never let a snapshot be installed over a machine still holding some (the bug of 9667d05).
   */
  digestEvery?: number;
}

export interface NodeSimTotals {
  events: number;
  elections: number;
  commits: number;
  crashes: number;
  crashesLosingWrites: number;
  partitions: number;
  blackouts: number;
  wallJumps: number;
  enqueueAcked: number;
  enqueueUnknown: number;
  leases: number;
  completed: number;
  leaseExpiries: number;
  extends: number;
  nacks: number;
  releases: number;
  dead: number;
  beliefGrants: number;
  workerRestarts: number;
  snapshotsInstalled: number;
  /** Payload slab compactions on all nodes (payloads.ts; the sim's slabs are tiny). */
  payloadCompactions: number;
  /** Evicted log entries read back from the disks (log-memory.ts; the sim keeps 512 bytes in memory). */
  logEntriesReadBack: number;
  clusterPowerLosses: number;
  /** Grants of a task the worker's SDK still holds under an older token (an attempt still settling). */
  inHandReplaced: number;
  /** Extends sent for an attempt whose handler had already ended (or whose ack was already sent). */
  extendsAfterEnd: number;
  /** Handlers running at once beyond the worker's concurrency. */
  concurrencyExceeded: number;
  /** Tasks a worker dead-lettered as undecodable (every simulated payload decodes: an SDK mistake). */
  deadUndecodable: number;
  /** Handlers the SDK started with their signal already fired (also a violation). */
  handlersStartedLate: number;
  /** Attempts the SDK gave back because their belief ended before the handler could start. */
  startsAbandoned: number;
  /** Operations in the client history the checker judged, and final reads among them (one per node). */
  historyOps: number;
  finalReads: number;
  /** Tasks the history shows completed (an ok ack): the workers' calls were recorded. */
  historyCompleted: number;
  /** Submit calls the SDK's coalescer sent (every attempt), and the commands they carried. */
  submitCalls: number;
  submitItems: number;
  /**
   * waitFor calls, those answered (and checked), watches a leader's step-down failed, and answered
   * calls whose watch was so failed (the SDK watched again at the new leader).
   */
  waitForCalls: number;
  waitForAnswered: number;
  waitForStepDowns: number;
  waitForReestablished: number;
  /** Event streams opened on a node, events the subscriber received, terminal ones checked at the end. */
  eventStreams: number;
  eventsReceived: number;
  eventsTerminalChecked: number;
}

export interface NodeSimResult {
  seed: number;
  nodes: number;
  violations: string[];
  totals: NodeSimTotals;
  simulatedMs: number;
  traceHash: number;
  trace: string[];
  /** What the versions scenario saw (null: none planned). */
  versions: VersionsOutcome | null;
}

interface SimNode {
  idx: number;
  id: string;
  address: string;
  storageId: string;
  disk: SimDurableLog;
  up: boolean;
  gen: number;
  clock: NodeClock | null;
  raft: RaftNode | null;
  driver: NodeDriver | null;
  sm: QueueStateMachine | null;
  endpoint: Endpoint;
  lastCommit: number;
  /** The highest applied index a stale read on this node was served at, over all its lives (Q11). */
  servedRead: number;
  wallOffset: number;
  events: TaskEvent[];
  /** The state machine versions this life runs up to (versions.ts). */
  smMax: number;
}

const TICK_MS = 10;
const ELECTION_TICKS = 10;
const LEASE_MS = 2000;
const QUEUE = 'jobs';
/** What every successful handler returns (waitFor resolves with it). */
const HANDLER_RESULT = 'done';
/** waitFor calls per producer's waiter (one at a time). */
const WAITS_PER_PRODUCER = 4;

const quiet: DriverLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function emptyTotals(): NodeSimTotals {
  return {
    events: 0,
    elections: 0,
    commits: 0,
    crashes: 0,
    crashesLosingWrites: 0,
    partitions: 0,
    blackouts: 0,
    wallJumps: 0,
    enqueueAcked: 0,
    enqueueUnknown: 0,
    leases: 0,
    completed: 0,
    leaseExpiries: 0,
    extends: 0,
    nacks: 0,
    releases: 0,
    dead: 0,
    beliefGrants: 0,
    workerRestarts: 0,
    snapshotsInstalled: 0,
    payloadCompactions: 0,
    logEntriesReadBack: 0,
    handlersStartedLate: 0,
    startsAbandoned: 0,
    clusterPowerLosses: 0,
    deadUndecodable: 0,
    inHandReplaced: 0,
    concurrencyExceeded: 0,
    extendsAfterEnd: 0,
    historyOps: 0,
    finalReads: 0,
    historyCompleted: 0,
    submitCalls: 0,
    submitItems: 0,
    waitForCalls: 0,
    waitForAnswered: 0,
    waitForStepDowns: 0,
    waitForReestablished: 0,
    eventStreams: 0,
    eventsReceived: 0,
    eventsTerminalChecked: 0,
  };
}

interface InHandView {
  leased: { id: string; token: string };
  controller: AbortController;
}

/**
 * The attempts a worker's SDK holds (whitebox: Worker.inHand). Looked up by value, not by the map's
 * key, so a change of the SDK's key format cannot silently make every lookup miss.
 */
function attemptsInHand(w: Worker): InHandView[] {
  const inHand = (w as unknown as { inHand?: Map<string, InHandView> }).inHand;
  if (!(inHand instanceof Map)) throw new Error('node sim: Worker.inHand is no longer a Map of attempts');
  return [...inHand.values()];
}

interface WorkerSlot {
  name: string;
  client: Client;
  clock: ClientClock;
  worker: Worker | null;
  /** The worker being closed: its extends still move its beliefs until it has closed. */
  closing: Worker | null;
  incarnation: number;
  concurrency: number;
}

export class NodeSimulation {
  readonly sched = new Scheduler();
  readonly nodes: SimNode[] = [];
  readonly raftChecker: SafetyChecker;
  readonly tracker: QueueTracker;
  readonly beliefs: BeliefChecker;
  /** The client history in src/checker's format, checked at the end of the seed. */
  readonly history: SimHistory;
  /** waitFor answers and the events() subscriber, checked against the model. */
  readonly observers: Observers;
  readonly totals = emptyTotals();
  readonly trace: string[] = [];
  private readonly violations: string[] = [];
  private readonly o: Required<NodeSimOptions>;
  private readonly rng: Rng;
  private readonly netRng: Rng;
  private readonly faultRng: Rng;
  private readonly workRng: Rng;
  private readonly net: ClientNet;
  private blocked: boolean[];
  private loss = 0;
  private dup = 0;
  private delayMax = 4;
  private readonly digests = new Map<number, string>();
  private readonly digestEvery: number;
  private faultsOver = false;
  private producing = true;
  private readonly workers: WorkerSlot[] = [];
  /** First send (client clock) per client/session/seq, for the belief formula. */
  private readonly firstSend = new Map<string, number>();
  /** Sends per (client, session, seq): a resent lease counts no hold (docs/design.md §2.4). */
  private readonly sends = new Map<string, number>();
  private readonly clientClocks = new Map<string, ClientClock>();
  private readonly workerOf = new Map<string, WorkerSlot>();
  private probesOk = 0;
  private readonly workersById = new Map<string, Worker>();
  /** Largest leader mono lag seen (only with tolerateLeaderMonoLag). */
  maxMonoLag = 0;
  /** Payloads (decoded) of every task a client asked to enqueue. */
  private readonly askedValues = new Set<string>();
  /** Ends the events() subscriber when the run ends. */
  private readonly subscriberStop = new AbortController();
  private readonly versions: SimVersions | null;

  constructor(options: NodeSimOptions) {
    this.o = {
      faultMs: 6000,
      livenessMs: 15_000,
      rho: RHO,
      nodeRateFactor: 1,
      maxHoldMs: 400,
      tolerateLeaderMonoLag: false,
      handlerMs: null,
      liveness: true,
      plant: null,
      logMemoryBytes: 512,
      staleReadEveryMs: 5,
      wireChecks: true,
      fsyncMs: [0.3, 3],
      clientTimeoutMs: 3000,
      clusterPowerLossChance: 0.3,
      crashes: 2,
      partitions: 2,
      clientBlackouts: 3,
      wallJumps: 3,
      trace: false,
      versions: null,
      digestEvery: options.seed % 3 === 0 ? 100 : 1,
      ...options,
    };
    this.rng = new Rng(options.seed);
    this.digestEvery = this.o.digestEvery;
    this.netRng = this.rng.fork();
    this.faultRng = this.rng.fork();
    this.workRng = this.rng.fork();
    const fail = (s: string): void => this.fail(s);
    this.raftChecker = new SafetyChecker(() => this.sched.now);
    this.tracker = new QueueTracker(fail);
    this.beliefs = new BeliefChecker(fail, () => this.sched.now);
    this.observers = new Observers(this.tracker, fail, HANDLER_RESULT, (v) => this.askedValues.has(v));
    this.history = new SimHistory(
      () => this.sched.now,
      (id) => this.tracker.tasks.get(id)?.value ?? null,
      QUEUE,
    );
    const n = options.nodes;
    this.blocked = new Array<boolean>(n * n).fill(false);
    const members: Member[] = [];
    for (let i = 0; i < n; i++) {
      members.push({ id: `n${i + 1}`, storageId: `n${i + 1}-s`, address: `10.0.0.${i + 1}:7000`, role: 'voter' });
    }
    const membership: Membership = { members };
    for (let i = 0; i < n; i++) {
      const m = members[i] as Member;
      const node: SimNode = {
        idx: i,
        id: m.id,
        address: m.address,
        storageId: m.storageId,
        disk: null as unknown as SimDurableLog,
        up: false,
        gen: 0,
        clock: null,
        raft: null,
        driver: null,
        sm: null,
        endpoint: {
          address: m.address,
          idx: i,
          service: null,
          inflight: new Set(),
          wallNow: () => WALL_EPOCH + this.sched.now + node.wallOffset,
        },
        lastCommit: 0,
        servedRead: 0,
        wallOffset: Math.round((this.faultRng.float() - 0.5) * 4000),
        events: [],
        smMax: SM_MAX,
      };
      node.disk = new SimDurableLog(this.sched, this.faultRng.fork(), membership, {
        onDurable: (w) => {
          for (const e of w.entries ?? []) this.raftChecker.persisted(node.id, e, node.disk.mirror.term(e.index - 1));
          if (w.entries !== undefined) this.checkStamps(node, w.entries);
        },
      });
      this.nodes.push(node);
    }
    this.net = new ClientNet(
      this.sched,
      this.netRng.fork(),
      this.nodes.map((x) => x.endpoint),
      {
        sent: (c, m, r) => {
          this.onClientSend(c, m, r);
          this.history.sent(c, m, r);
        },
        replied: (c, m, r, reply) => {
          this.onClientReply(c, m, r, reply);
          this.history.replied(c, m, r, reply);
        },
        failed: (c, m, r, detail) => {
          if (m === 'WaitFor' && detail.message.includes('stepped down')) this.observers.stepDown(String(r['id']));
          this.history.failed(c, m, r, detail);
        },
      },
    );
    this.versions =
      this.o.versions === null
        ? null
        : new SimVersions(
            this.o.versions,
            this.sched,
            this.nodes,
            () => this.leader(),
            (n) => this.upgrade(n as SimNode),
          );
    for (const node of this.nodes) this.start(node);
  }

  /** A rolling upgrade of `n`: stopped, started again on the new release (its smMax already raised). */
  private upgrade(n: SimNode): void {
    if (!n.up) return;
    this.crash(n);
    this.sched.after(50, () => {
      if (!n.up) this.start(n);
    });
  }

  /** The driver stopped: a version stop is the scenario's (the node then goes down), else a violation. */
  private onFatal(n: SimNode, gen: number, e: Error): void {
    if (this.versions?.fatal(n, e) !== true) {
      this.fail(`fatal error on ${n.id}: ${e.message}`);
      return;
    }
    this.sched.after(0, () => {
      if (n.gen === gen) this.crash(n);
    });
  }

  fail(what: string): void {
    if (this.violations.length < 20) this.violations.push(`t=${this.sched.now.toFixed(1)} ${what}`);
  }

  private note(s: string): void {
    if (this.o.trace) this.trace.push(`${this.sched.now.toFixed(2)} ${s}`);
  }

  // ------------------------------------------------------------------ nodes

  private start(n: SimNode): void {
    if (n.gen > 0) this.history.fault('crash', 'stop', n.id);
    n.up = true;
    n.gen++;
    const gen = n.gen;
    const rate = driftRate(this.faultRng, this.o.rho) * this.o.nodeRateFactor;
    // A reboot restarts the monotonic clock from an arbitrary origin.
    const mono = new MonoClock(this.sched, rate, Math.floor(this.faultRng.float() * 1e7));
    const clock = new NodeClock(this.sched, mono, n.wallOffset);
    clock.monoFromWall = this.o.plant === 'mono-from-wall';
    n.disk.lieAboutFsync = this.o.plant === 'ack-before-fsync';
    n.disk.lieForLeader = this.o.plant === 'leader-self-before-fsync' ? () => n.raft?.status().role === 'leader' : null;
    n.disk.lieAboutCommit = this.o.plant === 'commit-unsynced-read';
    n.disk.skipSnapshotChunk = this.o.plant === 'snapshot-skips-chunk';
    n.disk.plantShiftedRead = this.o.plant === 'read-back-shifted' || this.o.plant === 'read-back-unchecked';
    [n.disk.fsyncMinMs, n.disk.fsyncMaxMs] = this.o.fsyncMs;
    const storage = n.disk.open();
    storage.plantUncheckedRehydrate = this.o.plant === 'read-back-unchecked';
    const snap = storage.snapshot();
    const sm = new QueueStateMachine({
      smMax: n.smMax,
      plantSnapshotNoCow: this.o.plant === 'snapshot-without-cow',
      plantRestoreLosesHeaders: this.o.plant === 'restore-loses-headers',
      plantSnapshotShortBin: this.o.plant === 'snapshot-short-bin',
      // Tiny payload slabs, so the short retention of half the seeds compacts them (payloads.ts).
      payloadSlabBytes: 64,
      // Small snapshot chunks, so a snapshot's chunk buffers are reused (snapshot-chunk-pool.ts).
      snapshotChunkTasks: 4,
      payloadCompactMinSlabs: 1,
      plantCompactionShift: this.o.plant === 'compaction-shifts-payload',
    });
    try {
      if (snap !== null) sm.restore(snap.data);
    } catch (e) {
      // A capped replica that installed a snapshot of a higher version before it stopped: it stops again.
      if (this.versions?.fatal(n, e as Error) !== true) throw e;
      n.up = false;
      return;
    }
    const raft = new RaftNode(
      makeRaftConfig({
        id: n.id,
        storageId: n.storageId,
        group: 0,
        electionTicks: ELECTION_TICKS,
        heartbeatTicks: 1,
        maxMsgBytes: 16 * 1024,
        maxInflight: 8,
        snapshotChunkBytes: 4096,
        applied: snap?.meta.index ?? 0,
      }),
      storage,
      this.faultRng.fork(),
    );
    const driver = new NodeDriver({
      clusterId: 'sim',
      raft,
      storage,
      durable: n.disk,
      sm,
      send: (msgs) => this.send(n, gen, msgs),
      clock,
      timers: clock,
      log: quiet,
      tickMs: TICK_MS,
      snapshotEvery: 60,
      snapshotKeep: 10,
      // One chunk per turn: every snapshot spans turns, so applying must wait (snapshot-policy.ts).
      snapshotSliceChunks: 1,
      snapshotSliceGapMs: 2,
      // Evicted beyond a few entries' data: lagging followers and new leaders read entries back.
      logMemoryBytes: this.o.logMemoryBytes,
      startCommit: storage.hardState().commit,
      onApplied: (i) => this.onApplied(n, gen, i),
      onFatal: (e) => this.onFatal(n, gen, e),
      advanceMinIntervalMs: 50,
      plantStaleDeferred: this.o.plant === 'stale-deferred-commit',
      plantSendBeforeWrite: this.o.plant === 'send-before-write',
      plantCompleteEarly: this.o.plant === 'complete-early',
      plantSnapshotEarlyReuse: this.o.plant === 'snapshot-early-reuse',
    });
    n.clock = clock;
    n.raft = raft;
    n.driver = driver;
    n.sm = sm;
    n.events = [];
    n.lastCommit = raft.commitIndex;
    driver.subscribe({}, (ev) => n.events.push(ev));
    n.endpoint.inflight = new Set();
    // The service's time is this life's clocks: its deadlines, waitFor timers and turns are simulated.
    n.endpoint.service = createClientService(this.checkedExecutor(n, gen, driver), {
      clock: serviceClock(this.sched, clock, this.faultRng.fork()),
      wallNow: () => clock.wallMs(),
    });
    driver.start();
    this.versions?.started(n);
    this.note(`start ${n.id} (rate ${rate.toFixed(5)}, snapshot ${snap?.meta.index ?? 0})`);
  }

  private crash(n: SimNode): void {
    if (!n.up) return;
    this.history.fault('crash', 'start', n.id);
    n.up = false;
    n.gen++;
    if (n.clock) n.clock.alive = false;
    const inflight = n.endpoint.inflight;
    n.endpoint.inflight = new Set();
    n.endpoint.service = null;
    for (const reset of inflight) reset('connection reset (node crashed)');
    n.driver?.stop();
    this.totals.snapshotsInstalled += n.raft?.stats.snapshotsInstalled ?? 0;
    this.totals.payloadCompactions += n.sm?.payloadStats.compactions ?? 0;
    this.totals.logEntriesReadBack += n.driver?.logMemory.entriesRead ?? 0;
    n.driver = null;
    n.raft = null;
    n.sm = null;
    const lost = n.disk.powerLoss();
    this.totals.crashes++;
    if (lost > 0) this.totals.crashesLosingWrites++;
    this.note(`power loss on ${n.id}: ${lost} unsynced writes lost`);
  }

  /** The client service's executor: the node's driver, with every answer checked against the model. */
  private checkedExecutor(n: SimNode, gen: number, driver: NodeDriver): ClientExecutor {
    return {
      execute: async (cmds: SessionCommand[], opts) => {
        const r = await driver.execute(cmds, opts);
        if (n.gen === gen) cmds.forEach((c, i) => r.answers[i] && this.tracker.answered(c.cmd, r.answers[i], r.index));
        return r;
      },
      read: (q, o) => driver.read(q, o),
      status: () => driver.status(),
      subscribe: (f, cb) => driver.subscribe(f, cb),
      onStepDown: (cb) => driver.onStepDown(cb),
    };
  }

  private onApplied(n: SimNode, gen: number, index: number): void {
    const sm = n.sm;
    if (n.gen !== gen || sm === null) return;
    const events = n.events;
    n.events = [];
    if (index % this.digestEvery !== 0) {
      this.tracker.applied(index, sm.lastMono(), events, sm);
      return;
    }
    const d = sm.digest();
    const want = this.digests.get(index);
    if (want === undefined) this.digests.set(index, d);
    else if (want !== d) this.fail(`state machine safety: ${n.id} has digest ${d} at ${index}, others ${want}`);
    this.history.applied(n.id, index, d);
    this.tracker.applied(index, sm.lastMono(), events, sm);
  }

  private send(n: SimNode, gen: number, msgs: Message[]): void {
    if (!n.up || n.gen !== gen) return;
    const r = this.netRng;
    for (const m of msgs) {
      if (this.o.wireChecks) this.checkDurable(n, m);
      const to = this.nodes.find((x) => x.id === m.to);
      if (to === undefined || this.blocked[n.idx * this.nodes.length + to.idx] === true) continue;
      if (r.float() < this.loss) continue;
      // Through the peer codec, as over gRPC: every copy is decoded anew, nothing is shared.
      const bytes = encodeMessage(m);
      const copies = r.float() < this.dup ? 2 : 1;
      for (let k = 0; k < copies; k++) {
        const delay = 0.3 + r.float() * this.delayMax + (r.float() < 0.02 ? r.float() * 40 : 0);
        this.sched.after(delay, () => {
          if (!to.up || to.driver === null) return;
          const decoded = decodeMessage(bytes);
          if (typeof decoded === 'string') this.fail(`peer codec refuses a ${m.type} from ${n.id}: ${decoded}`);
          else to.driver.receive(decoded);
        });
      }
    }
  }

  /** The persistence contract on the wire: what a message depends on is durable (as in the Raft sim). */
  private checkDurable(n: SimNode, m: Message): void {
    const d = n.disk.durable;
    if (m.type === MessageType.VoteResp && m.reject !== true) {
      const hs = d.hardState();
      if (hs.term < m.term || (hs.term === m.term && hs.vote !== m.to)) {
        this.fail(`persistence: ${n.id} grants a vote to ${m.to} in term ${m.term} that is not durable`);
      }
    } else if (m.type === MessageType.AppendResp && m.reject !== true) {
      const i = m.index ?? 0;
      if (i > d.lastIndex() && i > (d.snapshot()?.meta.index ?? 0)) {
        this.fail(`persistence: ${n.id} acknowledges index ${i} but only ${d.lastIndex()} is durable`);
      }
    }
  }

  /** Raft safety after every event: election safety, leader completeness, commit never going back. */
  private checkRaft(): void {
    for (const n of this.nodes) {
      const core = n.raft;
      if (!n.up || core === null) continue;
      const c = core.commitIndex;
      if (c < n.lastCommit) this.fail(`commit: ${n.id} commit index went back ${n.lastCommit} -> ${c}`);
      if (c !== n.lastCommit) {
        n.lastCommit = c;
        this.raftChecker.committed(n.id, c, (i) => core.termAt(i));
      }
      if (core.currentRole === 'leader') {
        this.raftChecker.leader(n.id, core.currentTerm, (i) => core.termAt(i), core.lastIndex);
        this.history.leader(n.id, core.currentTerm);
      }
    }
  }

  /**
   * docs/design.md §2: a leader's `mono` continues from the newest stamp in its log, so stamps never go
   * back along the log: an entry made durable above a node's applied index carries a stamp at least
   * its applied mono. (A lag delays every lease, delay and expiry by its size: liveness.)
   */
  private checkStamps(n: SimNode, entries: readonly Entry[]): void {
    const sm = n.sm;
    if (sm === null) return;
    for (const e of entries) {
      if (e.type !== EntryType.Normal || e.index <= sm.appliedIndex()) continue;
      const env = decodeEnvelope(e.data);
      if (env === null) continue;
      const lag = sm.lastMono() - env.mono;
      if (lag <= 0) continue;
      this.maxMonoLag = Math.max(this.maxMonoLag, lag);
      if (!this.o.tolerateLeaderMonoLag) {
        this.fail(
          `lease clock: ${n.id} persists entry ${e.index} stamped mono ${env.mono}, below its applied mono ${sm.lastMono()}`,
        );
      }
    }
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes) {
      const c = n.raft;
      if (!n.up || c === null || c.currentRole !== 'leader') continue;
      if (best === undefined || c.currentTerm > (best.raft as RaftNode).currentTerm) best = n;
    }
    return best;
  }

  // ------------------------------------------------------------------ clients

  private newClientClock(name: string): ClientClock {
    const mono = new MonoClock(
      this.sched,
      driftRate(this.faultRng, this.o.rho),
      Math.floor(this.faultRng.float() * 1e7),
    );
    const c = new ClientClock(this.sched, mono, this.workRng.fork());
    this.clientClocks.set(name, c);
    return c;
  }

  private newClient(name: string, clock: ClientClock, sessionTimeoutMs: number): Client {
    const servers = this.nodes.map((x) => x.address);
    const shift = this.workRng.int(servers.length);
    return new Client({
      servers: [...servers.slice(shift), ...servers.slice(0, shift)],
      // The SDK's default path: concurrent commands leave as one Submit (the hooks see each command).
      transport: new CoalescingTransport(new SimTransport(this.net, name, clock), { clock }),
      clock,
      timeoutMs: this.o.clientTimeoutMs,
      sessionTimeoutMs,
      retryMinMs: 10,
      retryMaxMs: 200,
    });
  }

  private onClientSend(client: string, method: Method, req: WireMessage): void {
    const h = req['header'] as { session?: string; seq?: number } | undefined;
    const clock = this.clientClocks.get(client);
    if (h?.session && clock) {
      const key = `${client}/${h.session}/${h.seq}`;
      if (!this.firstSend.has(key)) this.firstSend.set(key, clock.now());
      this.sends.set(key, (this.sends.get(key) ?? 0) + 1);
    }
    if (this.o.trace && method !== 'KeepAlive' && method !== 'Status') {
      const what = ['Ack', 'Nack', 'Release', 'Extend', 'Lease'].includes(method)
        ? JSON.stringify({ ...req, header: h })
        : '';
      this.note(`${client} -> ${method} ${what.slice(0, 160)}`);
    }
    if (method === 'Extend' && this.beliefs.hasEnded(String(req['id']), String(req['token']))) {
      this.totals.extendsAfterEnd++;
    }
    if (method === 'Ack') {
      for (const it of (req['items'] ?? []) as { id: string; token: string }[]) this.beliefs.ended(it.id, it.token);
    } else if (method === 'Nack' || method === 'Release') {
      this.beliefs.ended(String(req['id']), String(req['token']));
    }
  }

  /** Belief bookkeeping from the wire: grants and extends as the worker's SDK receives them. */
  private onClientReply(client: string, method: Method, req: WireMessage, reply: WireMessage): void {
    if (method !== 'Lease' && method !== 'Extend') return;
    const slot = this.workerOf.get(client);
    const clock = this.clientClocks.get(client);
    const h = req['header'] as { session?: string; seq?: number } | undefined;
    if (slot === undefined || clock === undefined || !h?.session) return;
    const sent = this.firstSend.get(`${client}/${h.session}/${h.seq}`);
    const w = slot.worker ?? slot.closing;
    if (sent === undefined || w === null) return;
    if (method === 'Lease') {
      // A resent request's answer may be an earlier attempt's grant: its hold then does not count.
      const once = this.sends.get(`${client}/${h.session}/${h.seq}`) === 1;
      const heldMs = once ? Number(reply['heldMs'] ?? 0) : 0;
      for (const t of (reply['tasks'] ?? []) as { id: string; token: string; leaseMs?: number }[]) {
        // A second grant of a task the SDK still holds under an older token (it must keep both apart).
        if (attemptsInHand(w).some((x) => x.leased.id === t.id && x.leased.token !== t.token))
          this.totals.inHandReplaced++;
        const leaseMs = Number(t.leaseMs ?? 0) > 0 ? Math.min(Number(t.leaseMs), w.leaseMs) : w.leaseMs;
        const end = clock.mono.trueAt(sent + heldMs + leaseMs - w.marginMs);
        this.note(
          `${client} gets ${t.id}/${t.token} (sent ${sent.toFixed(1)} held ${heldMs} lease ${leaseMs} margin ${w.marginMs}, now ${clock.now().toFixed(1)}): belief to ${end.toFixed(1)}`,
        );
        this.beliefs.granted(String(req['workerId']), t.id, t.token, end);
        this.history.belief(client, method, req, t.id, t.token, end);
        this.checkBeliefWithinLease(client, t.id, t.token, end, this.tracker.deadlineOf(t.id, t.token));
        this.watchBelief(t.id, t.token);
      }
    } else {
      const end = clock.mono.trueAt(sent + Number(req['leaseMs'] ?? w.leaseMs) - w.marginMs);
      this.note(
        `${client} extends ${String(req['id'])}/${String(req['token'])} (sent ${sent.toFixed(1)}): belief to ${end.toFixed(1)}`,
      );
      this.beliefs.extended(String(req['id']), String(req['token']), end);
      this.history.belief(client, method, req, String(req['id']), String(req['token']), end);
      const d = Number(reply['deadlineMono'] ?? 0);
      if (d > 0) this.checkBeliefWithinLease(client, String(req['id']), String(req['token']), end, d);
    }
  }

  /**
   * docs/design.md §2 directly: when a grant or extend reaches the worker, the belief it yields ends before
   * the lease can expire: belief time left ≤ the time the current leader's mono needs to reach the
   * deadline (a later leader starts lower, which only lengthens the lease).
   */
  private checkBeliefWithinLease(
    client: string,
    id: string,
    token: string,
    beliefEnd: number,
    deadline: number | null,
  ) {
    const l = this.leader();
    if (deadline === null || l?.driver === null || l === undefined || l.driver === null) return;
    // In true ms: the leader's clock reaches the deadline at its own rate (stamps are whole ms).
    const leaseLeft = (deadline - l.driver.clock.peek().mono) / (l.clock?.mono.rate ?? 1);
    const beliefLeft = beliefEnd - this.sched.now;
    const slack = 2;
    if (beliefLeft > leaseLeft + slack) {
      this.fail(
        `belief outlives lease: ${client} believes ${id}/${token} for ${beliefLeft.toFixed(1)} ms, the lease has ${leaseLeft.toFixed(1)} ms left (leader ${l.id})`,
      );
    }
  }

  /** At the formula's belief end, a handler still running must have seen its signal fire. */
  private watchBelief(id: string, token: string): void {
    const end = this.beliefs.formulaEndOf(id, token);
    if (end === null) return;
    this.sched.at(end + 1.5, () => {
      const now = this.beliefs.formulaEndOf(id, token);
      if (now !== null && now + 1.5 > this.sched.now) this.watchBelief(id, token);
      else this.beliefs.beliefDue(id, token, this.sdkAborted(id, token));
    });
  }

  /** Whether the worker SDK holding (id, token) has fired its AbortSignal (whitebox: Worker.inHand). */
  private sdkAborted(id: string, token: string): boolean {
    const w = this.workersById.get(this.beliefs.worker(id, token) ?? '');
    const h =
      w === undefined ? undefined : attemptsInHand(w).find((x) => x.leased.id === id && x.leased.token === token);
    return h !== undefined && h.controller.signal.aborted;
  }

  private startWorker(slot: WorkerSlot): void {
    slot.incarnation++;
    const name = `${slot.name}.${slot.incarnation}`;
    const r = this.workRng;
    const clock = slot.clock;
    let running = 0;
    const w = slot.client.worker<Uint8Array, string>(
      QUEUE,
      async (task, ctx) => {
        // A handler must never start with a fired signal: it could not know its lease may be gone.
        if (ctx.signal.aborted) {
          this.totals.handlersStartedLate++;
          this.fail(`worker ${name} started a handler for ${task.id}/${ctx.token} with its signal already fired`);
        }
        running++;
        if (running > slot.concurrency) this.totals.concurrencyExceeded++;
        const onAbort = (): void => this.beliefs.ended(task.id, ctx.token);
        ctx.signal.addEventListener('abort', onAbort, { once: true });
        try {
          const p = r.float();
          const fixed = this.o.handlerMs;
          const ms =
            fixed !== null
              ? fixed[0] + r.float() * (fixed[1] - fixed[0])
              : p < 0.75
                ? 5 + r.float() * 150
                : p < 0.95
                  ? 150 + r.float() * 1000
                  : 1500 + r.float() * 3000;
          if (r.chance(0.1)) {
            await sleep(clock, ms / 2, ctx.signal);
            if (!ctx.signal.aborted) await ctx.extend({ progress: 50 }).catch(() => undefined);
            await sleep(clock, ms / 2, ctx.signal);
          } else {
            await sleep(clock, ms, ctx.signal);
          }
          if (ctx.signal.aborted) throw new Error('aborted at the belief end');
          const q = r.float();
          if (q < 0.08) throw new Error('handler failed');
          if (q < 0.1) throw new NonRetryableError('poison');
          return 'done';
        } finally {
          running--;
          ctx.signal.removeEventListener('abort', onAbort);
          this.beliefs.ended(task.id, ctx.token);
        }
      },
      {
        concurrency: slot.concurrency,
        leaseMs: LEASE_MS,
        holdMsMax: this.o.maxHoldMs,
        electionTimeoutMsMax: 2 * ELECTION_TICKS * TICK_MS,
        workerId: name,
        retryDelayMs: () => 20 + Math.floor(r.float() * 100),
      },
    );
    w.on('error', (e: unknown) => {
      if (e instanceof Error && e.message.includes('before its handler could start')) this.totals.startsAbandoned++;
    });
    this.workersById.set(name, w as unknown as Worker);
    slot.worker = w as unknown as Worker;
  }

  private async restartWorker(slot: WorkerSlot, downMs: number): Promise<void> {
    const w = slot.worker;
    if (w === null) return;
    slot.worker = null;
    slot.closing = w;
    this.totals.workerRestarts++;
    this.note(`worker ${slot.name} closes`);
    await w.close({ timeoutMs: 200 }).catch(() => undefined);
    slot.closing = null;
    await sleep(slot.clock, downMs);
    if (slot.worker === null) this.startWorker(slot);
  }

  private async producer(name: string, quota: number): Promise<void> {
    const r = this.workRng.fork();
    const clock = this.newClientClock(name);
    const client = this.newClient(name, clock, r.pick([1500, 4000, 60_000]));
    const q = client.queue<Uint8Array>(QUEUE);
    const keys: string[] = [];
    /** Ids of this producer's acknowledged tasks, for its waiter. */
    const ids: string[] = [];
    void this.waiter(name, ids);
    let k = 0;
    while (this.producing && k < quota) {
      await sleep(clock, 30 + r.float() * 150);
      if (!this.producing) break;
      // The first round, and half the multi-task rounds after it, are concurrent single enqueues:
      // the SDK coalesces them into a Submit.
      const mode = k === 0 ? 0.75 : r.float();
      const batch = mode < 0.7 ? 1 : 2 + r.int(3);
      const concurrent = batch > 1 && mode < 0.85;
      const items = [];
      for (let b = 0; b < batch; b++) {
        const value = `${name}-${k++}`;
        const item: { payload: Uint8Array; idempotencyKey?: string; delayMs?: number; priority?: number } = {
          payload: new TextEncoder().encode(value),
          priority: r.int(3),
        };
        if (r.chance(0.4)) {
          // Now and then reuse an earlier key: it must deduplicate to the earlier task.
          item.idempotencyKey = keys.length > 0 && r.chance(0.1) ? r.pick(keys) : `${value}-key`;
          keys.push(item.idempotencyKey);
        }
        if (r.chance(0.1)) item.delayMs = 20 + r.int(400);
        items.push(item);
      }
      if (concurrent) await Promise.all(items.map((item) => this.enqueue(name, q, [item], ids)));
      else await this.enqueue(name, q, items, ids);
    }
    await client.close({ timeoutMs: 100 }).catch(() => undefined);
  }

  /** One call of the SDK (enqueueMany), recorded in the history; acknowledged ids go to `ids`. */
  private async enqueue(
    producer: string,
    q: ReturnType<Client['queue']>,
    items: { payload: Uint8Array; idempotencyKey?: string; delayMs?: number }[],
    ids: string[] = [],
  ): Promise<boolean> {
    for (const item of items) this.askedValues.add(new TextDecoder().decode(item.payload));
    const ok = await this.history.enqueue(producer, items, async () => {
      const out = await q.enqueueMany(items);
      ids.push(...out.map((x) => x.id));
      return out;
    });
    if (ok) this.totals.enqueueAcked += items.length;
    else this.totals.enqueueUnknown += items.length;
    return ok;
  }

  /** A producer's waiter: waitFor on some of its acknowledged tasks, one at a time, a bounded number. */
  private async waiter(producer: string, ids: string[]): Promise<void> {
    const name = `${producer}-wait`;
    const r = this.workRng.fork();
    const clock = this.newClientClock(name);
    const client = this.newClient(name, clock, 60_000);
    const q = client.queue<Uint8Array>(QUEUE);
    let waits = 0;
    for (let round = 0; round < 200 && waits < WAITS_PER_PRODUCER; round++) {
      await sleep(clock, 100 + r.float() * 700);
      if (ids.length === 0) continue;
      waits++;
      const id = r.pick(ids);
      // Short waits, again until answered: a lost WaitFor request costs only its slice.
      for (let k = 0; k < 20; k++) if (await this.observers.waitFor(q, id, 2_000)) break;
    }
    await client.close({ timeoutMs: 100 }).catch(() => undefined);
  }

  /** One events() subscriber for the whole run; its events are checked as they come and at the end. */
  private async subscriber(signal: AbortSignal): Promise<void> {
    const clock = this.newClientClock('observer');
    const client = this.newClient('observer', clock, 60_000);
    try {
      for await (const ev of client.queue(QUEUE).events({ signal })) this.observers.event(ev);
    } catch (e) {
      this.fail(`events: the subscriber's stream failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private async setupQueue(): Promise<void> {
    const clock = this.newClientClock('admin');
    const client = this.newClient('admin', clock, 60_000);
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        await client.queue(QUEUE).create({
          leaseMs: LEASE_MS,
          maxAttempts: 4,
          maxDeliveries: 4,
          backoff: { type: 'exponential', delayMs: 30, maxDelayMs: 300, jitterPct: 20 },
          retentionMs: this.workRng.pick([1000, 60_000]),
        });
        break;
      } catch (e) {
        if ((e as { code?: string }).code === 'ALREADY_EXISTS') break;
      }
    }
    await client.close({ timeoutMs: 100 }).catch(() => undefined);
  }

  /** Stale reads on every node: a restarted node must never serve an older state than before (Q11). */
  private planStaleReads(): void {
    const every = this.o.staleReadEveryMs;
    if (every <= 0) return;
    for (let t = every; t < this.o.faultMs; t += every) {
      this.sched.at(t, () => {
        for (const n of this.nodes) if (n.up && n.driver !== null) void this.staleRead(n, n.gen, n.driver);
      });
    }
  }

  private async staleRead(n: SimNode, gen: number, driver: NodeDriver): Promise<void> {
    const r = await driver.read({ type: 'stats', queue: QUEUE }, { consistency: 'stale', deadline: Infinity });
    if (n.gen !== gen || !r.answer.ok) return;
    if (r.asOf.index < n.servedRead) {
      this.fail(`Q11: ${n.id} served a stale read at index ${r.asOf.index} after one at ${n.servedRead}`);
    }
    n.servedRead = Math.max(n.servedRead, r.asOf.index);
  }

  private planWorkload(): void {
    const nw = this.nodes.length === 3 ? 2 : 3;
    for (let i = 0; i < nw; i++) {
      const name = `worker${i + 1}`;
      const clock = this.newClientClock(name);
      const slot: WorkerSlot = {
        name,
        clock,
        client: this.newClient(name, clock, this.workRng.pick([1500, 60_000])),
        worker: null,
        closing: null,
        incarnation: 0,
        concurrency: 2 + this.workRng.int(3),
      };
      this.workers.push(slot);
      this.workerOf.set(name, slot);
    }
    void this.setupQueue().then(() => {
      void this.subscriber(this.subscriberStop.signal);
      for (const s of this.workers) this.startWorker(s);
      const np = this.nodes.length === 3 ? 2 : 3;
      for (let i = 0; i < np; i++) void this.producer(`p${i + 1}`, 30);
    });
    const r = this.faultRng;
    for (let k = 0; k < 2; k++) {
      const t = 500 + r.float() * (this.o.faultMs - 1000);
      this.sched.at(t, () => {
        const slot = r.pick(this.workers);
        void this.restartWorker(slot, 50 + r.float() * 500);
      });
    }
  }

  // ------------------------------------------------------------------ faults

  private planFaults(): void {
    const r = this.faultRng;
    const F = this.o.faultMs;
    this.loss = r.float() * 0.08;
    this.dup = r.float() * 0.03;
    this.delayMax = 1 + r.float() * 8;
    this.net.loss = r.float() * 0.05;
    this.net.delayMaxMs = 0.5 + r.float() * 5;
    for (let k = 0; k < this.o.crashes; k++) {
      const t = 300 + r.float() * (F - 800);
      this.sched.at(t, () => this.crashSome(r, 30 + r.float() * 1200));
    }
    for (let k = 0; k < this.o.partitions; k++) {
      const t = 300 + r.float() * (F - 1500);
      this.sched.at(t, () => this.partition(r, t + 200 + r.float() * 1300));
    }
    for (let k = 0; k < this.o.clientBlackouts; k++) {
      const t = 300 + r.float() * (F - 1500);
      this.sched.at(t, () => this.blackout(r, 300 + r.float() * 2200));
    }
    for (let k = 0; k < this.o.wallJumps; k++) {
      const t = 200 + r.float() * (F - 400);
      this.sched.at(t, () => {
        // Half the time the leader's: its wall clock is the one that stamps entries.
        const l = this.leader();
        const n = l !== undefined && r.chance(0.5) ? l : r.pick(this.nodes);
        const jump = r.pick([-1, 1]) * r.pick([500, 5000, 60_000, 3_600_000]);
        n.wallOffset += jump;
        if (n.clock) n.clock.wallOffset = n.wallOffset;
        this.totals.wallJumps++;
        this.note(`wall clock of ${n.id} jumps ${jump} ms`);
        this.history.fault('wall-jump', 'start', n.id);
      });
    }
    if (r.chance(this.o.clusterPowerLossChance)) {
      const t = 1000 + r.float() * (F - 2000);
      this.sched.at(t, () => this.blackstart(r));
    }
    const transferAt = 800 + r.float() * (F - 1600);
    this.sched.at(transferAt, () => {
      const l = this.leader();
      if (l?.driver) void l.driver.transferLeadership(300).catch(() => undefined);
    });
  }

  private crashSome(r: Rng, downMs: number): void {
    const up = this.nodes.filter((x) => x.up);
    if (up.length === 0) return;
    const l = this.leader();
    const victim = l !== undefined && r.chance(0.5) ? l : r.pick(up);
    // Power fails while a write is in flight (within ~50 ms), so unsynced writes really get lost.
    const strike = (tries: number): void => {
      if (!victim.up || this.faultsOver) return;
      if (victim.disk.inFlight === 0 && tries > 0) {
        this.sched.after(0.5, () => strike(tries - 1));
        return;
      }
      this.crash(victim);
      this.sched.after(downMs, () => {
        if (!victim.up) this.start(victim);
      });
    };
    strike(100);
  }

  /** Every node loses power at once (right after acknowledgements went out), then all restart. */
  private blackstart(r: Rng, tries = 400): void {
    // Strike while a majority has writes in flight: right after acknowledgements went out.
    const busy = this.nodes.filter((n) => n.up && n.disk.inFlight > 0).length;
    if (busy <= this.nodes.length / 2 && tries > 0 && !this.faultsOver) {
      this.sched.after(0.25, () => this.blackstart(r, tries - 1));
      return;
    }
    if (this.faultsOver) return;
    this.totals.clusterPowerLosses++;
    this.note('power loss of the whole cluster');
    for (const n of this.nodes) this.crash(n);
    for (const n of this.nodes) {
      this.sched.after(50 + r.float() * 400, () => {
        if (!n.up) this.start(n);
      });
    }
  }

  private partition(r: Rng, healAt: number): void {
    const n = this.nodes.length;
    const shape = r.pick(['isolate-leader', 'split', 'one-way'] as const);
    const groupOf = new Array<number>(n).fill(0);
    const l = this.leader();
    if (shape === 'isolate-leader') groupOf[l?.idx ?? r.int(n)] = 1;
    else for (let i = 0; i < n; i++) groupOf[i] = r.int(2);
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) {
        if (a === b) continue;
        const ga = groupOf[a] as number;
        const gb = groupOf[b] as number;
        this.blocked[a * n + b] = shape === 'one-way' ? ga < gb : ga !== gb;
      }
    }
    this.totals.partitions++;
    this.note(`partition ${shape} [${groupOf.join('')}]`);
    this.history.fault('partition', 'start', shape);
    this.sched.at(healAt, () => {
      this.blocked.fill(false);
      this.note('heal');
      this.history.fault('partition', 'stop', shape);
    });
  }

  /** A client loses its links to some or all nodes for a while (its leases must lapse safely). */
  private blackout(r: Rng, ms: number): void {
    // Mostly workers: a cut-off worker's lease must lapse before any other worker can get the task.
    const client = r.chance(0.75) ? r.pick(this.workers).name : r.pick(['p1', 'p2']);
    const l = this.leader();
    const targets = r.chance(0.5) || l === undefined ? this.nodes.map((x) => x.idx) : [l.idx];
    const keys = targets.map((i) => `${client}/${i}`);
    for (const k of keys) this.net.blackout.add(k);
    this.totals.blackouts++;
    this.note(`blackout ${client} from [${targets.join(',')}] for ${ms.toFixed(0)} ms`);
    this.history.fault('client-blackout', 'start', client);
    this.sched.after(ms, () => {
      this.history.fault('client-blackout', 'stop', client);
      for (const k of keys) this.net.blackout.delete(k);
    });
  }

  private beginLiveness(): void {
    this.faultsOver = true;
    this.producing = false;
    this.blocked.fill(false);
    this.loss = 0;
    this.dup = 0;
    this.net.loss = 0;
    this.net.blackout.clear();
    for (const n of this.nodes) if (!n.up) this.start(n);
    for (const s of this.workers) if (s.worker === null) this.startWorker(s);
    this.note('faults over: liveness phase');
    void this.probe();
  }

  /** After the faults: a fresh producer's enqueues must succeed. */
  private async probe(): Promise<void> {
    const clock = this.newClientClock('probe');
    const client = this.newClient('probe', clock, 60_000);
    const q = client.queue<Uint8Array>(QUEUE);
    // At once: the SDK coalesces them into a Submit (so every drained seed has one).
    await Promise.all(
      [0, 1, 2].map(async (i) => {
        const ok = await this.enqueue('probe', q, [{ payload: new TextEncoder().encode(`probe-${i}`) }]);
        if (ok) this.probesOk++;
      }),
    );
  }

  // ------------------------------------------------------------------ run

  async run(): Promise<NodeSimResult> {
    this.planFaults();
    this.versions?.schedule();
    this.planWorkload();
    this.planStaleReads();
    const F = this.o.faultMs;
    const stop = (): boolean => {
      this.checkRaft();
      return this.violations.length > 0;
    };
    let stopped = await this.sched.runUntil(F, stop);
    if (!stopped && this.o.liveness) {
      this.beginLiveness();
      let end = F + this.o.livenessMs;
      let t = F;
      while (!stopped && t < end) {
        t = Math.min(end, t + 250);
        end = F + this.o.livenessMs + this.maxMonoLag;
        stopped = await this.sched.runUntil(t, stop);
        if (this.drained()) break;
      }
      if (!stopped) this.finalChecks(end);
      // The final reads (Q13), all at one applied index.
      if (!stopped && this.violations.length === 0) {
        const read = await this.history.readAtOneIndex(this.sched, this.nodes, () => this.checkRaft());
        if (!read) this.fail('liveness: the nodes did not reach one applied index within 2 s after the drain');
        const sm = this.nodes[0]?.sm;
        if (read && sm) this.observers.checkFinal(readAll(sm));
      }
    }
    this.subscriberStop.abort();
    this.finishVersions();
    const judged = this.history.check(this.nodes.map((n) => n.id));
    for (const v of judged.violations) this.fail(v);
    this.totals.historyOps = judged.verdict.stats.ops;
    this.totals.finalReads = this.history.finalReadCount;
    this.totals.historyCompleted = judged.verdict.stats.completed;
    for (const n of this.nodes) {
      this.totals.snapshotsInstalled += n.raft?.stats.snapshotsInstalled ?? 0;
      this.totals.payloadCompactions += n.sm?.payloadStats.compactions ?? 0;
      this.totals.logEntriesReadBack += n.driver?.logMemory.entriesRead ?? 0;
    }
    this.producing = false;
    const c = this.tracker.counts;
    this.totals.events = this.sched.events;
    this.totals.elections = this.raftChecker.newLeaders;
    this.totals.commits = this.raftChecker.globalCommit;
    this.totals.leases = c.leased;
    this.totals.completed = c.completed;
    this.totals.leaseExpiries = c.expired;
    this.totals.extends = c.extended;
    this.totals.nacks = c.nacked;
    this.totals.releases = c.released;
    this.totals.dead = c.dead;
    this.totals.deadUndecodable = c.deadUndecodable;
    this.totals.beliefGrants = this.beliefs.grants;
    this.totals.submitCalls = this.net.submitCalls;
    this.totals.submitItems = this.net.submitItems;
    this.totals.eventStreams = this.net.streamsOpened;
    const o = this.observers.counts;
    this.totals.waitForCalls = o.waitForCalls;
    this.totals.waitForAnswered = o.waitForAnswered;
    this.totals.waitForStepDowns = o.waitForStepDowns;
    this.totals.waitForReestablished = o.waitForReestablished;
    this.totals.eventsReceived = o.eventsReceived;
    this.totals.eventsTerminalChecked = o.eventsTerminalChecked;
    return {
      seed: this.o.seed,
      nodes: this.o.nodes,
      violations: this.violations,
      totals: this.totals,
      simulatedMs: this.sched.now,
      traceHash: this.traceHash(),
      trace: this.trace,
      versions: this.versions?.outcome ?? null,
    };
  }

  private finishVersions(): void {
    this.versions?.finish(this.nodes);
  }

  private drained(): boolean {
    return this.probesOk >= 3 && this.tracker.unfinished().length === 0;
  }

  private finalChecks(end: number): void {
    const left = this.tracker.unfinished();
    if (this.probesOk < 3) this.fail(`liveness: only ${this.probesOk} of 3 probe enqueues succeeded after the faults`);
    if (left.length > 0) {
      this.fail(
        `liveness: ${left.length} tasks not terminal ${end - this.o.faultMs} ms after the faults: ${left.slice(0, 5).join(' ')}`,
      );
    }
  }

  private traceHash(): number {
    const s = `${this.sched.events}|${this.tracker.index}|${this.digests.get(this.tracker.index)}|${JSON.stringify(this.totals)}`;
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    return h >>> 0;
  }
}

export function runNodeSeed(options: NodeSimOptions): Promise<NodeSimResult> {
  return new NodeSimulation(options).run();
}
