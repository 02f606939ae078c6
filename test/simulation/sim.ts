// The deterministic simulation: 3 or 5 Raft cores driven by one seeded scheduler over a network that
// delays, drops, duplicates and reorders, partitions of several shapes, crashes that lose unsynced
// writes, disk wipes, clock skew, membership changes and leadership transfers. Safety is checked after
// every event; after the faults stop, liveness (a leader and new commits within a bound) is checked.

import { asLogIndex, asTerm } from '../../src/protocol/ids.js';
import { makeRaftConfig } from '../../src/raft/config.js';
import type { RaftFaults } from '../../src/raft/config.js';
import { RaftNode } from '../../src/raft/node.js';
import { Rng } from '../../src/raft/rng.js';
import type { MemoryStorage } from '../../src/raft/storage.js';
import { EntryType, MessageType } from '../../src/raft/types.js';
import type { Entry, Member, Membership, Message, Ready, Snapshot } from '../../src/raft/types.js';
import { SafetyChecker, hashBytes, hashEntry } from './checker.js';
import { SimDisk, applyWrite } from './disk.js';
import type { DiskWrite } from './disk.js';
import { EventHeap } from './heap.js';

export interface SimOptions {
  seed: number;
  nodes: number;
  /** Simulated ms of faults (≥ 50 election timeouts of 100 ms by default). */
  faultMs?: number;
  /** Bound on the liveness phase. */
  livenessMs?: number;
  /** Fault intensity knobs (fast-check shrinks these). */
  lossMax?: number;
  crashes?: number;
  partitions?: number;
  wipeChance?: number;
  /**
   * Chance that a crash also loses the node's last synced writes (docs/faults.md F7), while every other node
   * is up and trusted. Off by default, so the seeds of the other tests replay the same schedules.
   */
  tailLossChance?: number;
  /** Restart such a node in recovery (the node storage's behaviour); false plants the bug of P11. */
  recoverTailLoss?: boolean;
  /**
   * Let tail losses hit a node while others are still recovering, up to every node. Safety must
   * hold; liveness is only expected while fewer than a quorum were ever recovering at once (beyond
   * that, committed entries may really be gone and no leader may be safe to elect).
   */
  tailLossAnyone?: boolean;
  membershipChanges?: boolean;
  /** Check the Figure 8 rule directly (off: only its consequences, lost committed entries, are caught). */
  checkCommitRule?: boolean;
  /** Chance that a newly elected leader crashes within a few ms (before its no-op spreads). */
  leaderCrashChance?: number;
  /** Chance per leader Ready with new entries that the leader crashes after sending, before its write. */
  crashBeforeWriteChance?: number;
  /**
   * Chance per node that it pipelines its writes (up to 2–4 Readys in flight, each written after its
   * own disk latency, in order) instead of handling one Ready at a time, as the node driver does.
   */
  pipelineChance?: number;
  /** Planted bugs in every core (planted.ts); none by default. */
  faults?: RaftFaults;
  trace?: boolean;
}

export interface SimTotals {
  elections: number;
  truncations: number;
  snapshotsInstalled: number;
  membershipChanges: number;
  transfers: number;
  readIndexReads: number;
  crashes: number;
  crashesLosingWrites: number;
  /** Leaders that crashed after their Appends left, before their own write. */
  crashesBeforeWrite: number;
  wipes: number;
  /** Crashes that lost synced writes (tail loss), and recoveries that caught up afterwards. */
  tailLosses: number;
  recoveriesEnded: number;
  partitions: number;
  commits: number;
  events: number;
}

export interface SimResult {
  seed: number;
  nodes: number;
  violations: string[];
  totals: SimTotals;
  simulatedMs: number;
  traceHash: number;
  trace: string[];
}

type EvKind = 'tick' | 'deliver' | 'ready' | 'written' | 'action';

interface Ev {
  t: number;
  seq: number;
  kind: EvKind;
  node: number;
  gen: number;
  msg: Message | null;
  action: (() => void) | null;
}

interface SimNode {
  idx: number;
  id: string;
  storageId: string;
  storageGen: number;
  up: boolean;
  gen: number;
  core: RaftNode | null;
  disk: SimDisk;
  mirror: MemoryStorage;
  tickMs: number;
  readyScheduled: boolean;
  /** Readys in flight at once: 1 handles each whole before the next; more pipelines the writes. */
  depth: number;
  /** Pipelined Readys taken and not yet written, oldest first (the 'written' event completes one). */
  inflight: Ready[];
  smApplied: number;
  smHash: number;
  lastCommit: number;
  lastSnapshotIndex: number;
  /** Index of the newest config entry in the persisted log (the expected effective config). */
  configIndex: number;
  configMembership: Membership;
}

const TICK_MS = 10;
const ELECTION_TICKS = 10;
const HEARTBEAT_TICKS = 2;
const SNAPSHOT_EVERY = 40;
const SNAPSHOT_TRAIL = 8;
const SNAPSHOT_PAD = 300;

export function emptyTotals(): SimTotals {
  return {
    elections: 0,
    truncations: 0,
    snapshotsInstalled: 0,
    membershipChanges: 0,
    transfers: 0,
    readIndexReads: 0,
    crashes: 0,
    crashesLosingWrites: 0,
    crashesBeforeWrite: 0,
    wipes: 0,
    tailLosses: 0,
    recoveriesEnded: 0,
    partitions: 0,
    commits: 0,
    events: 0,
  };
}

export class Simulation {
  readonly rng: Rng;
  private readonly netRng: Rng;
  private readonly faultRng: Rng;
  /** Decides leader crashes between early Appends and the write; separate so other streams keep their draws. */
  private readonly earlyCrashRng: Rng;
  private readonly pipeRng: Rng;
  private readonly heap = new EventHeap<Ev>();
  private seq = 0;
  now = 0;
  readonly nodes: SimNode[] = [];
  readonly checker: SafetyChecker;
  readonly totals = emptyTotals();
  readonly trace: string[] = [];
  private traceHash = 2166136261;
  /** blocked[from * n + to]: messages on that link are dropped. */
  private blocked: boolean[];
  private loss = 0;
  private dup = 0;
  private delayMax = 5;
  private proposalSeq = 0;
  private readSeq = 0;
  private readIssued = new Map<number, number>();
  private faultsOver = false;
  private livenessFirstId = Infinity;
  livenessAt: number | null = null;
  private readonly opts: Required<SimOptions>;
  private wipedOnce = false;
  private guaranteeArmed = false;
  /** Per seed: 1 byte sends one entry per Append (slow catch-up, many partial acknowledgements). */
  private readonly maxMsgBytes: number;
  /** A quorum of nodes were recovering from tail losses at once (liveness not expected). */
  private majorityLost = false;

  constructor(options: SimOptions) {
    this.opts = {
      faultMs: 5000,
      livenessMs: 4000,
      lossMax: 0.1,
      crashes: 2,
      partitions: 2,
      wipeChance: 0.2,
      tailLossChance: 0,
      recoverTailLoss: true,
      tailLossAnyone: false,
      membershipChanges: true,
      leaderCrashChance: 0.05,
      crashBeforeWriteChance: 0.002,
      pipelineChance: 0.5,
      checkCommitRule: true,
      trace: false,
      faults: {},
      ...options,
    };
    this.rng = new Rng(options.seed);
    this.netRng = this.rng.fork();
    this.faultRng = this.rng.fork();
    this.earlyCrashRng = new Rng(options.seed * 7919 + 17);
    // Its own stream, so that seeds without pipelining replay as they did before it existed.
    this.pipeRng = new Rng(options.seed * 104729 + 3);
    this.checker = new SafetyChecker(() => this.now);
    this.maxMsgBytes = this.faultRng.pick([1, 64, 64, 512]);
    const n = options.nodes;
    this.blocked = new Array<boolean>(n * n).fill(false);
    const members: Member[] = [];
    for (let i = 0; i < n; i++) {
      members.push({ id: `n${i + 1}`, storageId: `n${i + 1}-d0`, address: `127.0.0.1:${7001 + i}`, role: 'voter' });
    }
    const membership: Membership = { members };
    for (let i = 0; i < n; i++) {
      const disk = new SimDisk(membership, this.opts.tailLossChance > 0);
      const id = `n${i + 1}`;
      const node: SimNode = {
        idx: i,
        id,
        storageId: `${id}-d0`,
        storageGen: 0,
        up: false,
        gen: 0,
        core: null,
        disk,
        mirror: disk.durable.clone(),
        tickMs: TICK_MS * (0.85 + 0.3 * this.faultRng.float()),
        readyScheduled: false,
        depth: this.pipeRng.chance(this.opts.pipelineChance) ? 2 + Math.floor(this.pipeRng.float() * 3) : 1,
        inflight: [],
        smApplied: 0,
        smHash: 0,
        lastCommit: 0,
        lastSnapshotIndex: 0,
        configIndex: 0,
        configMembership: membership,
      };
      this.nodes.push(node);
    }
    for (const node of this.nodes) this.start(node);
  }

  // ------------------------------------------------------------ scheduling

  private schedule(
    dt: number,
    kind: EvKind,
    node: number,
    gen: number,
    msg: Message | null,
    action: (() => void) | null,
  ): void {
    this.heap.push({ t: this.now + dt, seq: this.seq++, kind, node, gen, msg, action });
  }

  private at(t: number, action: () => void): void {
    this.heap.push({ t, seq: this.seq++, kind: 'action', node: -1, gen: 0, msg: null, action });
  }

  private note(s: string): void {
    if (this.opts.trace) this.trace.push(`${this.now.toFixed(2)} ${s}`);
  }

  run(): SimResult {
    this.planFaults();
    this.planWorkload();
    const end = this.opts.faultMs + this.opts.livenessMs;
    this.at(this.opts.faultMs, () => this.beginLiveness());
    let events = 0;
    for (;;) {
      const ev = this.heap.pop();
      if (ev === undefined || ev.t > end) break;
      if (this.livenessAt !== null && ev.t > this.livenessAt + 300) break;
      if (this.checker.violations.length > 0) break;
      this.now = ev.t;
      events++;
      this.traceHash = Math.imul(this.traceHash ^ (ev.seq + ev.node * 7919), 16777619);
      this.dispatch(ev);
    }
    if (this.livenessAt === null && this.checker.violations.length === 0 && !this.majorityLost) {
      this.checker.fail(`liveness: no new commit within ${this.opts.livenessMs} ms after faults stopped`);
    }
    for (const n of this.nodes) this.collectStats(n);
    this.totals.events = events;
    this.totals.commits = this.checker.globalCommit;
    this.totals.elections = this.checker.newLeaders;
    return {
      seed: this.opts.seed,
      nodes: this.opts.nodes,
      violations: this.checker.violations,
      totals: this.totals,
      simulatedMs: this.now,
      traceHash: this.traceHash >>> 0,
      trace: this.trace,
    };
  }

  private dispatch(ev: Ev): void {
    if (ev.kind === 'action') {
      (ev.action as () => void)();
      return;
    }
    const node = this.nodes[ev.node] as SimNode;
    if (!node.up || node.gen !== ev.gen || node.core === null) return;
    const core = node.core;
    switch (ev.kind) {
      case 'tick':
        core.tick();
        this.schedule(node.tickMs, 'tick', node.idx, node.gen, null, null);
        break;
      case 'deliver':
        core.step(ev.msg as Message);
        break;
      case 'ready':
        node.readyScheduled = false;
        if (node.depth > 1) this.takeReadys(node, core);
        else this.processReady(node, core);
        return;
      case 'written':
        this.completeWrite(node, core);
        return;
    }
    this.afterStep(node, core);
  }

  private afterStep(node: SimNode, core: RaftNode): void {
    if (core.commitIndex !== node.lastCommit) this.checkCommit(node, core);
    if (core.currentRole === 'leader') {
      const before = this.checker.newLeaders;
      this.checker.leader(node.id, core.currentTerm, (i) => core.termAt(i), core.lastIndex);
      if (this.checker.newLeaders > before && !this.faultsOver && this.faultRng.chance(this.opts.leaderCrashChance)) {
        this.crashSoon(node);
      }
    }
    if (!node.readyScheduled && node.inflight.length < node.depth && core.hasReady()) {
      node.readyScheduled = true;
      // Disk latency: a crash before the write completes loses the write and sends nothing.
      this.schedule(0.2 + this.netRng.float() * 1.5, 'ready', node.idx, node.gen, null, null);
    }
  }

  // ------------------------------------------------------------ node lifecycle

  private start(node: SimNode): void {
    node.up = true;
    node.gen++;
    node.mirror = node.disk.durable.clone();
    const snap = node.mirror.snapshot();
    if (snap !== null) {
      this.restoreSm(node, snap);
    } else {
      node.smApplied = 0;
      node.smHash = 0;
    }
    node.lastSnapshotIndex = snap?.meta.index ?? 0;
    const cfg = makeRaftConfig({
      id: node.id,
      storageId: node.storageId,
      group: 7,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      maxMsgBytes: this.maxMsgBytes,
      maxInflight: 4,
      maxUncommittedBytes: 2048,
      snapshotChunkBytes: 128,
      maxApplyBytes: 256,
      applied: node.smApplied,
      faults: this.opts.faults,
    });
    const rng = this.faultRng.fork();
    node.core = new RaftNode(cfg, node.mirror, rng);
    node.lastCommit = node.core.commitIndex;
    this.recomputeConfig(node);
    node.readyScheduled = false;
    node.inflight = [];
    this.schedule(this.faultRng.float() * node.tickMs, 'tick', node.idx, node.gen, null, null);
  }

  private crash(node: SimNode, wipe: boolean): void {
    if (!node.up) return;
    // Only a minority may lose synced state: every other node is up, trusted, and a voter.
    const others = this.nodes.filter((x) => x !== node);
    const tailLoss =
      !wipe &&
      this.opts.tailLossChance > 0 &&
      (this.opts.tailLossAnyone || others.every((x) => x.up && x.core?.recovering === null)) &&
      this.allVotersTrusted() &&
      this.faultRng.chance(this.opts.tailLossChance);
    this.collectStats(node);
    node.up = false;
    node.core = null;
    node.gen++;
    node.inflight = [];
    const lost = node.disk.crash(this.faultRng);
    this.totals.crashes++;
    if (lost > 0) this.totals.crashesLosingWrites++;
    if (tailLoss) this.loseTail(node);
    if (wipe) {
      this.totals.wipes++;
      node.storageGen++;
      node.storageId = `${node.id}-d${node.storageGen}`;
      node.disk.wipe({ members: [] });
    }
    this.note(`crash ${node.id}${wipe ? ' (disk wiped)' : ''} lost=${lost}`);
  }

  /**
   * The node's disk loses its last synced writes. The node storage notices (its promise file,
   * src/node/storage/promise-file.ts, is newer than the log) and restarts the node in recovery one
   * term above what it promised; `recoverTailLoss: false` restarts it as if nothing had been lost.
   */
  private loseTail(node: SimNode): void {
    const prior = node.disk.durable.hardState().recovery;
    const loss = node.disk.loseSyncedTail(1 + this.faultRng.int(3));
    if (loss.lost === 0) return;
    this.totals.tailLosses++;
    const lostNow = this.nodes.filter((x) => x === node || x.disk.durable.hardState().recovery !== undefined).length;
    if (lostNow > this.nodes.length / 2) this.majorityLost = true;
    this.note(`tail loss ${node.id}: ${loss.lost} synced writes (had promised index ${loss.index} term ${loss.term})`);
    if (!this.opts.recoverTailLoss) return;
    const d = node.disk.durable;
    d.setHardState({
      term: asTerm(loss.hardTerm + 1),
      vote: null,
      commit: d.hardState().commit,
      recovery: {
        index: asLogIndex(Math.max(loss.index, prior?.index ?? 0)),
        term: asTerm(Math.max(loss.term, prior?.term ?? 0)),
      },
    });
  }

  /** Every node's configuration lists every node as a voter with its current storage id. */
  private allVotersTrusted(): boolean {
    return this.nodes.every((x) => {
      const voters = x.core?.currentMembership.members.filter((m) => m.role === 'voter') ?? [];
      return voters.length === this.nodes.length && voters.every((m) => this.nodeById(m.id)?.storageId === m.storageId);
    });
  }

  private anyRecovering(): boolean {
    return this.nodes.some(
      (x) => x.disk.durable.hardState().recovery !== undefined || (x.core?.recovering ?? null) !== null,
    );
  }

  private collectStats(node: SimNode): void {
    const s = node.core?.stats;
    if (s === undefined) return;
    this.totals.recoveriesEnded += s.recoveriesEnded;
    this.totals.truncations += s.truncations;
    this.totals.snapshotsInstalled += s.snapshotsInstalled;
    this.totals.membershipChanges += s.configChanges;
    this.totals.transfers += s.transfers;
    this.totals.readIndexReads += s.readIndexReads;
    // Stats are per core life: zero them so a later collection does not count twice.
    for (const k of Object.keys(s) as (keyof typeof s)[]) s[k] = 0;
  }

  // ------------------------------------------------------------ the driver

  private processReady(node: SimNode, core: RaftNode): void {
    for (let round = 0; round < 8 && core.hasReady(); round++) {
      const rd = core.ready();
      // A leader replicates while it writes: its Appends leave first, and it may die before the write.
      if (rd.sendBeforePersist) for (const m of rd.messages) this.send(node, m);
      if (rd.sendBeforePersist && rd.entries.length > 0 && this.crashBeforeWrite(node)) return;
      this.persist(node, rd);
      if (!rd.sendBeforePersist) for (const m of rd.messages) this.send(node, m);
      this.apply(node, core, rd);
      for (const rs of rd.readStates) this.checkRead(node, rs.ctx, rs.index);
      for (const dr of rd.droppedReads) this.readIssued.delete(dr.ctx);
      core.advance();
      this.maybeSnapshot(node, core);
    }
    if (!this.configMatches(node, core)) {
      this.checker.fail(
        `config: ${node.id} uses the config of index ${core.effectiveConfigIndex}, its log's newest is ${node.configIndex}`,
      );
    }
    this.afterStep(node, core);
  }

  /**
   * Pipelined: take Readys while fewer than `depth` are in flight. Committed entries are durable on a
   * majority (not necessarily here yet), so they apply at once; each write completes later, in order.
   */
  private takeReadys(node: SimNode, core: RaftNode): void {
    for (let round = 0; round < 8 && node.inflight.length < node.depth && core.hasReady(); round++) {
      const rd = core.ready();
      if (rd.sendBeforePersist) for (const m of rd.messages) this.send(node, m);
      if (rd.sendBeforePersist && rd.entries.length > 0 && this.crashBeforeWrite(node)) return;
      this.apply(node, core, rd);
      for (const rs of rd.readStates) this.checkRead(node, rs.ctx, rs.index);
      for (const dr of rd.droppedReads) this.readIssued.delete(dr.ctx);
      node.inflight.push(rd);
      if (node.inflight.length === 1) this.scheduleWrite(node);
      this.maybeSnapshot(node, core);
    }
    this.afterStep(node, core);
  }

  private scheduleWrite(node: SimNode): void {
    this.schedule(0.2 + this.netRng.float() * 1.5, 'written', node.idx, node.gen, null, null);
  }

  /** The oldest write in flight is done: its messages go out and the core hears of it. */
  private completeWrite(node: SimNode, core: RaftNode): void {
    const rd = node.inflight.shift();
    if (rd === undefined) return;
    this.persist(node, rd);
    if (!rd.sendBeforePersist) for (const m of rd.messages) this.send(node, m);
    core.advance();
    this.maybeSnapshot(node, core);
    if (node.inflight.length > 0) this.scheduleWrite(node);
    // Only once everything handed out is written (the core uses its newest config, durable or not).
    else if (!core.hasReady() && !this.configMatches(node, core)) {
      this.checker.fail(
        `config: ${node.id} uses the config of index ${core.effectiveConfigIndex}, its log's newest is ${node.configIndex}`,
      );
    }
    this.afterStep(node, core);
  }

  private persist(node: SimNode, rd: Ready): void {
    const w: DiskWrite = {};
    if (rd.snapshot !== null) w.installed = rd.snapshot;
    if (rd.entries.length > 0) w.entries = rd.entries;
    if (rd.hardState !== null) w.hardState = rd.hardState;
    if (w.installed === undefined && w.entries === undefined && w.hardState === undefined) return;
    node.disk.write(w, rd.mustSync);
    applyWrite(node.mirror, w);
    if (!rd.mustSync) this.maybeCrashAfterUnsynced(node);
    if (rd.snapshot !== null) {
      node.configIndex = rd.snapshot.meta.index;
      node.configMembership = rd.snapshot.meta.membership;
      this.restoreSm(node, rd.snapshot);
    }
    const first = rd.entries[0];
    if (first !== undefined) {
      if (first.index <= node.configIndex) this.recomputeConfig(node);
      for (const e of rd.entries) {
        this.checker.persisted(node.id, e, node.mirror.term(e.index - 1));
        if (e.type === EntryType.Config && e.config !== undefined) {
          node.configIndex = e.index;
          node.configMembership = e.config;
        }
      }
    }
  }

  private configMatches(node: SimNode, core: RaftNode): boolean {
    return core.effectiveConfigIndex === node.configIndex && core.currentMembership === node.configMembership;
  }

  /** The config a node should be using: the newest config entry in its log, else its base. */
  private recomputeConfig(node: SimNode): void {
    const s = node.mirror;
    for (let i = s.lastIndex(); i >= s.firstIndex(); i--) {
      const e = s.entries(i, i + 1, 0)[0] as Entry;
      if (e.type === EntryType.Config && e.config !== undefined) {
        node.configIndex = i;
        node.configMembership = e.config;
        return;
      }
    }
    // No config entry left in the log: the core keeps whichever base it last folded or loaded.
    const core = node.core;
    if (core !== null && core.effectiveConfigIndex < s.firstIndex()) {
      node.configIndex = core.effectiveConfigIndex;
      node.configMembership = core.currentMembership;
    } else {
      node.configIndex = s.firstIndex() - 1;
      node.configMembership = s.initialState().membership;
    }
  }

  /** The persistence contract, checked on the wire: what a message depends on is durable. */
  private checkDurable(node: SimNode, m: Message): void {
    const d = node.disk.durable;
    if (m.type === MessageType.VoteResp && m.reject !== true) {
      const hs = d.hardState();
      // A later term on disk is as good: this node can no longer vote in m.term at all.
      if (hs.term < m.term || (hs.term === m.term && hs.vote !== m.to)) {
        this.checker.fail(`persistence: ${node.id} grants a vote to ${m.to} in term ${m.term} that is not durable`);
      }
    } else if (m.type === MessageType.AppendResp && m.reject !== true) {
      const i = m.index ?? 0;
      const snapIndex = d.snapshot()?.meta.index ?? 0;
      if (i > d.lastIndex() && i > snapIndex) {
        this.checker.fail(`persistence: ${node.id} acknowledges index ${i} but only ${d.lastIndex()} is durable`);
      }
    }
  }

  private send(node: SimNode, m: Message): void {
    this.checkDurable(node, m);
    const to = this.nodeById(m.to);
    if (to === undefined || this.blocked[node.idx * this.nodes.length + to.idx] === true) return;
    const r = this.netRng;
    if (r.float() < this.loss) return;
    const copies = r.float() < this.dup ? 2 : 1;
    for (let k = 0; k < copies; k++) {
      // Mostly short delays; now and then a long one, which reorders.
      const delay = 0.5 + r.float() * this.delayMax + (r.float() < 0.03 ? r.float() * 60 : 0);
      this.schedule(delay, 'deliver', to.idx, to.gen, m, null);
    }
  }

  private nodeById(id: string): SimNode | undefined {
    const k = Number(id.slice(1)) - 1;
    const n = this.nodes[k];
    return n !== undefined && n.id === id ? n : undefined;
  }

  private apply(node: SimNode, core: RaftNode, rd: Ready): void {
    for (const e of rd.committedEntries) {
      if (e.index !== node.smApplied + 1) {
        this.checker.fail(`apply: ${node.id} applies ${e.index} after ${node.smApplied}`);
        return;
      }
      node.smApplied = e.index;
      node.smHash = hashEntry(node.smHash, e);
      this.checker.applied(node.id, e.index, node.smHash);
      if (
        this.livenessAt === null &&
        e.type === EntryType.Normal &&
        core.currentRole === 'leader' &&
        readU32(e.data) >= this.livenessFirstId
      ) {
        this.livenessAt = this.now;
        this.note(`liveness reached: ${node.id} applied ${e.index}`);
      }
    }
  }

  private checkCommit(node: SimNode, core: RaftNode): void {
    const c = core.commitIndex;
    if (c < node.lastCommit) this.checker.fail(`commit: ${node.id} commit index went back ${node.lastCommit} -> ${c}`);
    if (c !== node.lastCommit) {
      node.lastCommit = c;
      // Figure 8: a leader advances its commit index only by counting an entry of its own term.
      if (this.opts.checkCommitRule && core.currentRole === 'leader' && core.termAt(c) !== core.currentTerm) {
        this.checker.fail(
          `commit rule: leader ${node.id} commits index ${c} of term ${core.termAt(c)} in term ${core.currentTerm}`,
        );
      }
      this.checker.committed(node.id, c, (i) => core.termAt(i));
    }
  }

  private checkRead(node: SimNode, ctx: number, index: number): void {
    const issued = this.readIssued.get(ctx);
    if (issued === undefined) return;
    this.readIssued.delete(ctx);
    if (index < issued) {
      this.checker.fail(`read index: ${node.id} answers read ${ctx} at ${index}, but ${issued} was committed before`);
    }
  }

  // ------------------------------------------------------------ state machine and snapshots

  private restoreSm(node: SimNode, snap: Snapshot): void {
    const hash = readU32(snap.data);
    node.smApplied = snap.meta.index;
    node.smHash = hash;
    this.checker.applied(node.id, snap.meta.index, hash);
  }

  private maybeSnapshot(node: SimNode, core: RaftNode): void {
    if (node.smApplied - node.lastSnapshotIndex < SNAPSHOT_EVERY) return;
    // As the driver: a snapshot covers only entries durable here (it is written at once, not queued).
    if (node.smApplied > core.durableLastIndex) return;
    const index = node.smApplied;
    const data = new Uint8Array(SNAPSHOT_PAD + (index % 64));
    writeU32(data, node.smHash);
    for (let i = 4; i < data.length; i++) data[i] = (node.smHash >>> (i % 24)) & 0xff;
    const snap = core.buildSnapshot(index, data);
    node.lastSnapshotIndex = index;
    const compactTo = Math.max(index - SNAPSHOT_TRAIL, node.mirror.firstIndex() - 1);
    const w: DiskWrite = { created: snap };
    if (compactTo >= node.mirror.firstIndex()) w.compactTo = compactTo;
    node.disk.write(w, true);
    applyWrite(node.mirror, w);
    if (node.configIndex < node.mirror.firstIndex()) this.recomputeConfig(node);
  }

  // ------------------------------------------------------------ workload

  private leaderNode(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes) {
      const c = n.core;
      if (!n.up || c === null || c.currentRole !== 'leader') continue;
      if (best === undefined || c.currentTerm > (best.core as RaftNode).currentTerm) best = n;
    }
    return best;
  }

  private planWorkload(): void {
    const r = this.rng.fork();
    const end = this.opts.faultMs + this.opts.livenessMs;
    for (let t = 5 + r.float() * 20; t < end; t += 8 + r.float() * 25) {
      this.at(t, () => this.clientPropose(r));
    }
    for (let t = 30 + r.float() * 50; t < end; t += 40 + r.float() * 80) {
      this.at(t, () => this.clientRead());
    }
  }

  private clientPropose(r: Rng): void {
    const l = this.leaderNode();
    if (l === undefined || l.core === null) return;
    const count = r.chance(0.2) ? 2 + r.int(4) : 1;
    const items: { id: number; data: Uint8Array }[] = [];
    for (let k = 0; k < count; k++) {
      const id = ++this.proposalSeq;
      const data = new Uint8Array(8 + r.int(24));
      writeU32(data, id);
      items.push({ id, data });
    }
    l.core.proposeBatch(items);
    this.afterStep(l, l.core);
  }

  private clientRead(): void {
    const l = this.leaderNode();
    if (l === undefined || l.core === null) return;
    const ctx = ++this.readSeq;
    this.readIssued.set(ctx, this.checker.globalCommit);
    l.core.readIndex(ctx);
    this.afterStep(l, l.core);
  }

  // ------------------------------------------------------------ faults

  private planFaults(): void {
    const r = this.faultRng;
    const F = this.opts.faultMs;
    this.loss = r.float() * this.opts.lossMax;
    this.dup = r.float() * 0.03;
    this.delayMax = 1 + r.float() * 12;
    for (let k = 0; k < this.opts.partitions; k++) {
      const start = 200 + r.float() * (F - 1600);
      this.at(start, () => this.partition(r, start + 200 + r.float() * 1200));
    }
    for (let k = 0; k < this.opts.crashes; k++) {
      const t = 150 + r.float() * (F - 900);
      const wipe = r.chance(this.opts.wipeChance);
      this.at(t, () => this.crashSome(r, wipe, 30 + r.float() * 700));
    }
    for (let t = 400 + r.float() * 600; t < F; t += 300 + r.float() * 900) {
      this.at(t, () => this.transfer(r));
    }
    if (this.opts.membershipChanges) {
      for (let t = 300 + r.float() * 200; t < F + this.opts.livenessMs; t += 120 + r.float() * 200) {
        this.at(t, () => this.operator(r));
      }
    }
  }

  private partition(r: Rng, healAt: number): void {
    const n = this.nodes.length;
    const shapes = ['isolate-leader', 'split', 'bridge', 'one-way', 'flapping'] as const;
    const shape = r.pick(shapes);
    this.totals.partitions++;
    const groupOf = new Array<number>(n).fill(0);
    const leader = this.leaderNode();
    if (shape === 'isolate-leader') {
      groupOf[leader?.idx ?? r.int(n)] = 1;
    } else {
      for (let i = 0; i < n; i++) groupOf[i] = r.int(2);
    }
    const bridge = shape === 'bridge' ? r.int(n) : -1;
    const apply = (on: boolean): void => {
      for (let a = 0; a < n; a++) {
        for (let b = 0; b < n; b++) {
          if (a === b) continue;
          let cut = groupOf[a] !== groupOf[b] && a !== bridge && b !== bridge;
          if (shape === 'one-way') cut = (groupOf[a] as number) < (groupOf[b] as number);
          this.blocked[a * n + b] = on && cut;
        }
      }
    };
    apply(true);
    this.note(`partition ${shape} [${groupOf.join('')}] bridge=${bridge}`);
    if (shape === 'flapping') {
      let on = true;
      for (let t = this.now + 60; t < healAt; t += 40 + r.float() * 120) {
        this.at(t, () => {
          on = !on;
          apply(on);
        });
      }
    }
    this.at(healAt, () => {
      this.blocked.fill(false);
      this.note('heal');
    });
  }

  private crashSome(r: Rng, wipe: boolean, downMs: number): void {
    const up = this.nodes.filter((x) => x.up);
    if (up.length === 0) return;
    const leader = this.leaderNode();
    const victim = leader !== undefined && r.chance(0.4) ? leader : r.pick(up);
    // Only wipe a node while every configured voter is healthy: the operator must be able to replace it.
    const doWipe = wipe && !this.wipedOnce && this.fullVoterSet(leader) && !this.anyRecovering();
    if (doWipe) this.wipedOnce = true;
    this.crash(victim, doWipe);
    this.at(this.now + downMs, () => {
      if (!victim.up) {
        this.start(victim);
        this.note(`restart ${victim.id} as ${victim.storageId}`);
      }
    });
  }

  /**
   * A wiped disk is a failure: only inflict it when the cluster can absorb it, i.e. every node is up,
   * connected, and uses a committed configuration in which every node is a healthy voter.
   */
  /** Crashes a new leader before its first entries reach everyone (Figure 8 territory). */
  private crashSoon(node: SimNode): void {
    const r = this.faultRng;
    const gen = node.gen;
    this.at(this.now + r.float() * 12, () => {
      if (!node.up || node.gen !== gen || this.faultsOver) return;
      this.crash(node, false);
      this.at(this.now + 10 + r.float() * 150, () => {
        if (!node.up) this.start(node);
      });
    });
  }

  /**
   * Coverage guarantee: after the first third of the faults, if no crash has lost an unsynced write yet,
   * the next node to make an unsynced write crashes right after it.
   */
  /** Now and then a leader crashes after its Appends left and before its own write (own PRNG stream). */
  private crashBeforeWrite(node: SimNode): boolean {
    if (this.faultsOver || !this.earlyCrashRng.chance(this.opts.crashBeforeWriteChance)) return false;
    this.totals.crashesBeforeWrite++;
    this.crash(node, false);
    this.at(this.now + 20 + this.earlyCrashRng.float() * 200, () => {
      if (!node.up) this.start(node);
    });
    return true;
  }

  private maybeCrashAfterUnsynced(node: SimNode): void {
    if (this.guaranteeArmed || this.totals.crashesLosingWrites > 0 || this.faultsOver) return;
    if (this.now < this.opts.faultMs / 3) return;
    this.guaranteeArmed = true;
    const gen = node.gen;
    this.at(this.now + 0.01, () => {
      this.guaranteeArmed = false;
      if (!node.up || node.gen !== gen || node.disk.unsynced === 0 || this.faultsOver) return;
      this.crash(node, false);
      this.at(this.now + 20 + this.faultRng.float() * 200, () => {
        if (!node.up) this.start(node);
      });
    });
  }

  private fullVoterSet(leader: SimNode | undefined): boolean {
    if (leader === undefined || this.blocked.includes(true)) return false;
    return this.nodes.every((node) => {
      const core = node.core;
      if (!node.up || core === null || core.effectiveConfigIndex > core.commitIndex) return false;
      const m = core.currentMembership;
      return this.nodes.every((n) =>
        m.members.some((x) => x.id === n.id && x.role === 'voter' && x.storageId === n.storageId),
      );
    });
  }

  private transfer(r: Rng): void {
    const l = this.leaderNode();
    if (l === undefined || l.core === null) return;
    const voters = l.core.currentMembership.members.filter((m) => m.role === 'voter' && m.id !== l.id);
    if (voters.length === 0) return;
    const to = r.pick(voters).id;
    const res = l.core.transferLeader(to);
    this.note(`transfer ${l.id} -> ${to}: ${res.ok ? 'started' : res.reason}`);
    this.afterStep(l, l.core);
  }

  /** An operator: replaces wiped members, re-adds removed ones, promotes caught-up learners, removes at random. */
  private operator(r: Rng): void {
    const l = this.leaderNode();
    if (l === undefined || l.core === null) return;
    const core = l.core;
    const members = core.currentMembership.members;
    const byId = new Map(members.map((m) => [m.id, m]));
    let res: ReturnType<RaftNode['changeMembership']> | null = null;
    let what = '';
    const stale = members.find((m) => {
      const n = this.nodeById(m.id);
      return n !== undefined && n.storageId !== m.storageId;
    });
    const missing = this.nodes.find((n) => !byId.has(n.id) && n.up);
    const learner = members.find((m) => m.role === 'learner');
    const voters = members.filter((m) => m.role === 'voter');
    if (stale !== undefined) {
      what = `remove ${stale.id} (stale storage ${stale.storageId})`;
      res = core.removeMember(stale.id);
    } else if (missing !== undefined) {
      what = `add learner ${missing.id}/${missing.storageId}`;
      res = core.addLearner({ id: missing.id, storageId: missing.storageId, address: `${missing.id}.sim` });
    } else if (learner !== undefined) {
      what = `promote ${learner.id}`;
      res = core.promote(learner.id);
    } else if (!this.faultsOver && voters.length === this.nodes.length && !this.anyRecovering() && r.chance(0.25)) {
      // (A careful operator does not shrink the cluster while a node is recovering from a storage
      // loss: it cannot vote, so the smaller configuration might have no quorum left.)
      const victim = r.chance(0.3) ? l.id : r.pick(voters).id;
      what = `remove ${victim}`;
      res = core.removeMember(victim);
    }
    if (res === null) return;
    this.note(`operator ${what}: ${res.ok ? `at ${res.index}` : res.reason}`);
    this.afterStep(l, core);
  }

  private beginLiveness(): void {
    this.faultsOver = true;
    this.blocked.fill(false);
    this.loss = 0;
    this.dup = 0;
    for (const n of this.nodes) if (!n.up) this.start(n);
    this.livenessFirstId = this.proposalSeq + 1;
    this.note('faults over: liveness phase');
  }
}

function writeU32(b: Uint8Array, v: number): void {
  b[0] = v >>> 24;
  b[1] = (v >>> 16) & 0xff;
  b[2] = (v >>> 8) & 0xff;
  b[3] = v & 0xff;
}

function readU32(b: Uint8Array): number {
  return (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
}

export function runSeed(options: SimOptions): SimResult {
  return new Simulation(options).run();
}

export { hashBytes };
