// The node's driver loop around the pure Raft core: persist -> send -> apply -> advance (the Ready
// contract of src/raft/types.ts), plus the leader's duties: stamping entries with the log clocks,
// batching client commands that arrive while a write is in flight, answering them once applied,
// ReadIndex reads, advanceTime only when due, and periodic snapshots.
// It does no I/O itself: durable storage, transport, clocks and timers are injected, so the same
// driver runs in the deterministic simulation and in the real process.
import type {
  Answer,
  Command,
  ReadAnswer,
  ReadQuery,
  SessionCommand,
  TaskEvent,
  ErrorDetail,
} from '../protocol/index.js';
import { encodeEnvelope, ENVELOPE_VERSION } from '../protocol/index.js';
import { decodeEnvelope } from '../protocol/codec.js';
import type { RaftNode } from '../raft/node.js';
import type { MemoryStorage } from '../raft/storage.js';
import { EntryType, type Entry, type Membership, type Message, type Ready, type Snapshot } from '../raft/types.js';
import type { ClientExecutor, ExecuteOptions, ExecuteResult, MemberStatus, NodeStatus } from '../rpc/executor.js';
import type { QueueStateMachine } from '../statemachine/index.js';
import { LogClock, type ClockSource, type Stamps } from './log-clock.js';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * The durable side of the Ready contract, and the owner of the in-memory mirror the core reads
 * (NodeStorage in production, a simulated disk in tests): it updates the mirror only after the
 * write it reflects is durable, in write order.
 */
export interface DurableLog {
  /** Ready step 1: snapshot (file, then meta), hard state and entries in one durable write; then the mirror. */
  persistReady(ready: {
    hardState: Ready['hardState'];
    entries: readonly Entry[];
    snapshot: Snapshot | null;
  }): Promise<void>;
  /** A snapshot the application took: data durable first, then metadata; then the log is compacted to `compactTo`. */
  createSnapshot(snap: Snapshot, options: { compactTo?: number }): Promise<void>;
}

export interface DriverLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DriverOptions {
  clusterId: string;
  raft: RaftNode;
  storage: MemoryStorage;
  durable: DurableLog;
  sm: QueueStateMachine;
  send(msgs: Message[]): void;
  /** This node's advertised client address, sent to peers while the membership is still unbound. */
  advertise?: string;
  clock: ClockSource;
  timers: Timers;
  log: DriverLogger;
  /** Milliseconds per Raft tick. */
  tickMs: number;
  snapshotEvery: number;
  /** Entries kept below a snapshot so that slightly lagging followers need no InstallSnapshot. */
  snapshotKeep?: number;
  /** Commit index persisted at start: the node is not ready until applied reaches it. */
  startCommit: number;
  /** Called with each applied entry's index (metrics, digests). */
  onApplied?(index: number): void;
  /** Fatal: the node must stop (e.g. a failed fsync). */
  onFatal(err: Error): void;
  /** Minimum time between advanceTime proposals. */
  advanceMinIntervalMs?: number;
  /** Most commands packed into one entry. */
  commandsPerEntryMax?: number;
  /** Commands waiting for a leader or a write beyond this are refused (bounded buffering). */
  pendingCommandsMax?: number;
}

interface PendingCommand {
  cmd: SessionCommand;
  resolve(r: { answer: Answer; index: number }): void;
  deadline: number;
}

interface InFlight {
  term: number;
  cmds: PendingCommand[];
  index: number;
}

interface PendingRead {
  query: ReadQuery;
  resolve(a: ReadAnswer): void;
  deadline: number;
  /** Set once Raft confirmed the read index. */
  index: number | null;
}

export class NodeDriver implements ClientExecutor {
  readonly clock: LogClock;
  private readonly o: Required<
    Pick<DriverOptions, 'snapshotKeep' | 'advanceMinIntervalMs' | 'commandsPerEntryMax' | 'pendingCommandsMax'>
  > &
    DriverOptions;
  private looping = false;
  private again = false;
  private stopped = false;
  private tickHandle: unknown = null;
  private nextProposalId = 1;
  private nextReadCtx = 1;
  /** Commands not yet in an entry. */
  private queued: PendingCommand[] = [];
  /** Proposal id -> commands, until Raft says at which index it went. */
  private proposing = new Map<number, InFlight>();
  /** Log index -> commands, until applied. */
  private inflight = new Map<number, InFlight>();
  private reads = new Map<number, PendingRead>();
  private readyReads: PendingRead[] = [];
  private isLeader = false;
  private leaderId: string | null = null;
  private applied = 0;
  private lastSnapshotIndex = 0;
  private snapshotting = false;
  private advanceInFlight = false;
  private lastAdvanceAt = -Infinity;
  private readonly eventSubs = new Set<{ queue?: string; cb: (e: TaskEvent) => void }>();
  private readonly stepDownSubs = new Set<() => void>();
  private readonly appliedWaiters = new Set<() => void>();
  private readonly digests: { index: number; digest: string }[] = [];
  private membership: Membership;
  /** Identities peers presented (storage id, advertised address), for binding the bootstrap membership. */
  private readonly learned = new Map<string, { storageId: string; address: string }>();
  private bindAttemptTick = 0;
  private reportedMismatches = 0;
  private reportedMismatchKey = '';
  private reportedWiped = false;
  private reportedAddressedAsOther = false;
  private reportedRecovering: { index: number; term: number } | null = null;
  private unboundCache: { at: number; value: boolean } | null = null;
  private ticks = 0;

  constructor(opts: DriverOptions) {
    this.o = {
      snapshotKeep: 1000,
      advanceMinIntervalMs: 100,
      commandsPerEntryMax: 1024,
      pendingCommandsMax: 100_000,
      ...opts,
    };
    this.clock = new LogClock(opts.clock);
    this.applied = opts.sm.appliedIndex();
    this.lastSnapshotIndex = opts.storage.snapshot()?.meta.index ?? 0;
    this.clock.observe({ mono: opts.sm.lastMono(), wall: opts.sm.lastWall() });
    this.membership = opts.raft.status().membership;
    this.reportedRecovering = opts.raft.recovering;
  }

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.o.raft.tick();
      this.onTick();
      this.kick();
      this.tickHandle = this.o.timers.setTimeout(tick, this.o.tickMs);
    };
    this.tickHandle = this.o.timers.setTimeout(tick, this.o.tickMs);
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.tickHandle !== null) this.o.timers.clearTimeout(this.tickHandle);
    this.failAll({ code: 'UNAVAILABLE', message: 'node is shutting down' });
  }

  /** A message from a peer. */
  receive(msg: Message): void {
    if (this.stopped) return;
    if (typeof msg?.from === 'string' && typeof msg.fromStorage === 'string') {
      const known = this.learned.get(msg.from);
      if (!known || known.storageId !== msg.fromStorage || (msg.fromAddress && known.address !== msg.fromAddress)) {
        this.learned.set(msg.from, { storageId: msg.fromStorage, address: msg.fromAddress ?? known?.address ?? '' });
      }
    }
    this.o.raft.step(msg);
    this.kick();
  }

  // ------------------------------------------------------------------ ClientExecutor

  ready(): boolean {
    return this.applied >= this.o.startCommit && this.leaderId !== null && !this.stopped;
  }

  async execute(cmds: SessionCommand[], opts: ExecuteOptions): Promise<ExecuteResult> {
    const received = this.o.clock.monoMs();
    const notLeader = this.notLeaderAnswer();
    if (notLeader) return { answers: cmds.map(() => notLeader), index: 0, heldMs: 0 };
    if (this.queued.length + cmds.length > this.o.pendingCommandsMax) {
      const a = errAnswer({
        code: 'RESOURCE_EXHAUSTED',
        message: 'too many commands in flight',
        limit: 'pendingCommands',
        retryAfterMs: 100,
      });
      return { answers: cmds.map(() => a), index: 0, heldMs: 0 };
    }
    if (opts.maxHoldMs !== undefined && opts.maxHoldMs > 0) {
      await this.holdForWork(cmds, received, opts);
    }
    const heldMs = Math.max(0, Math.round(this.o.clock.monoMs() - received));
    const pending = cmds.map(
      (cmd) =>
        new Promise<{ answer: Answer; index: number }>((resolve) => {
          this.queued.push({ cmd, resolve, deadline: opts.deadline });
        }),
    );
    this.kick();
    const results = await Promise.all(pending);
    return { answers: results.map((r) => r.answer), index: results[0]?.index ?? 0, heldMs };
  }

  async read(query: ReadQuery, opts: { consistency: 'linearizable' | 'stale'; deadline: number }): Promise<ReadAnswer> {
    if (opts.consistency === 'stale') {
      if (this.applied < this.o.startCommit) {
        return { asOf: this.asOf(), answer: errAnswer({ code: 'UNAVAILABLE', message: 'node is catching up' }) };
      }
      return this.o.sm.read(query);
    }
    const nl = this.notLeaderAnswer();
    if (nl) return { asOf: this.asOf(), answer: nl };
    const ctx = this.nextReadCtx++;
    return new Promise<ReadAnswer>((resolve) => {
      this.reads.set(ctx, { query, resolve, deadline: opts.deadline, index: null });
      this.o.raft.readIndex(ctx);
      this.kick();
    });
  }

  status(): NodeStatus {
    const st = this.o.raft.status();
    const role: MemberStatus['role'] = st.role === 'follower' && !this.isVoter(st.id) ? 'learner' : st.role;
    const members: MemberStatus[] = st.membership.members.map((m) => {
      const pr = st.progress.find((p) => p.id === m.id);
      const self = m.id === st.id;
      return {
        id: m.id,
        address: m.address,
        role: self ? role : m.id === st.leader ? 'leader' : m.role === 'learner' ? 'learner' : 'follower',
        term: st.term,
        commitIndex: self ? st.commit : 0,
        appliedIndex: self ? this.applied : 0,
        ...(pr ? { matchIndex: pr.match } : {}),
      };
    });
    return {
      id: st.id,
      clusterId: this.o.clusterId,
      leader: st.leader,
      leaderAddress: this.addressOf(st.leader),
      role,
      term: st.term,
      commitIndex: st.commit,
      appliedIndex: this.applied,
      ready: this.ready(),
      ...(st.recovering ? { recovering: st.recovering } : {}),
      members,
    };
  }

  subscribe(filter: { queue?: string }, onEvent: (e: TaskEvent) => void): () => void {
    const sub = { ...filter, cb: onEvent };
    this.eventSubs.add(sub);
    return () => this.eventSubs.delete(sub);
  }

  onStepDown(cb: () => void): () => void {
    this.stepDownSubs.add(cb);
    return () => this.stepDownSubs.delete(cb);
  }

  /** (index, digest) pairs at snapshots and every 100th index, for replica comparison. */
  digestHistory(): { index: number; digest: string }[] {
    const out = this.digests.slice();
    const last = out[out.length - 1];
    if (!last || last.index !== this.applied) out.push({ index: this.applied, digest: this.o.sm.digest() });
    return out;
  }

  appliedIndex(): number {
    return this.applied;
  }

  /** The durable log's bounds and the last snapshot (the mirror changes only after its write is durable). */
  logStatus(): { firstIndex: number; lastIndex: number; snapshotIndex: number } {
    const st = this.o.storage;
    return { firstIndex: st.firstIndex(), lastIndex: st.lastIndex(), snapshotIndex: st.snapshot()?.meta.index ?? 0 };
  }

  /** Resolves once applied ≥ index (or rejects at the deadline). */
  waitApplied(index: number, ms: number): Promise<void> {
    if (this.applied >= index) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.applied >= index) {
          this.appliedWaiters.delete(check);
          this.o.timers.clearTimeout(timer);
          resolve();
        }
      };
      const timer = this.o.timers.setTimeout(() => {
        this.appliedWaiters.delete(check);
        reject(new Error(`applied index did not reach ${index} within ${ms} ms`));
      }, ms);
      this.appliedWaiters.add(check);
    });
  }

  /** Hands leadership to the most up-to-date voter; resolves true once another node leads. */
  async transferLeadership(ms: number): Promise<boolean> {
    const st = this.o.raft.status();
    if (st.role !== 'leader') return true;
    // A voter heard from recently first, then the most caught-up one.
    const target = st.progress
      .filter((p) => p.id !== st.id && this.isVoter(p.id))
      .sort((a, b) => Number(b.recentActive) - Number(a.recentActive) || b.match - a.match)[0];
    if (!target || !this.o.raft.transferLeader(target.id).ok) return false;
    this.kick();
    const end = this.o.clock.monoMs() + ms;
    while (this.o.clock.monoMs() < end) {
      await new Promise<void>((r) => this.o.timers.setTimeout(r, this.o.tickMs));
      const now = this.o.raft.status();
      if (now.role !== 'leader' && now.leader !== null && now.leader !== st.id) return true;
      // The core abandons a transfer not done within an election timeout: the target is gone, stop waiting.
      if (now.role === 'leader' && now.leadTransferee === null) return false;
    }
    return false;
  }

  // ------------------------------------------------------------------ the loop

  private kick(): void {
    if (this.looping) {
      this.again = true;
      return;
    }
    this.looping = true;
    this.loop().then(
      () => (this.looping = false),
      (err: unknown) => {
        this.looping = false;
        this.fatal(err);
      },
    );
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      this.flushQueued();
      let rounds = 0;
      while (this.o.raft.hasReady() && !this.stopped) {
        await this.handleReady(this.o.raft.ready());
        if (++rounds > 10_000) throw new Error('driver: Ready loop did not settle');
      }
      this.expireDeadlines();
    } while (this.again && !this.stopped);
  }

  private async handleReady(rd: Ready): Promise<void> {
    this.onSoftState(rd);
    if (this.o.advertise && rd.messages.length > 0 && this.unbound()) {
      for (const m of rd.messages) m.fromAddress = this.o.advertise;
    }
    // Every message waits for the write. (A leader may in principle replicate in parallel with its own
    // fsync, Raft thesis §10.2.1, but only if it counts itself for commit after the write; the core
    // counts its own match when it appends, so sending Appends early could commit an entry that only
    // a minority has on disk.)
    if (rd.snapshot !== null || rd.hardState !== null || rd.entries.length > 0) {
      await this.o.durable.persistReady({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot });
    }
    if (rd.snapshot !== null) {
      this.o.sm.restore(rd.snapshot.data);
      this.applied = rd.snapshot.meta.index;
      this.lastSnapshotIndex = rd.snapshot.meta.index;
      this.membership = rd.snapshot.meta.membership;
      this.clock.observe({ mono: this.o.sm.lastMono(), wall: this.o.sm.lastWall() });
      this.failInflightBelow(rd.snapshot.meta.index);
      this.o.log.info({ index: rd.snapshot.meta.index }, 'installed snapshot from leader');
    }
    if (rd.messages.length > 0) this.o.send(rd.messages);
    for (const p of rd.proposed) {
      const f = this.proposing.get(p.id);
      if (f) {
        this.proposing.delete(p.id);
        f.index = p.index;
        f.term = p.term;
        this.inflight.set(p.index, f);
      }
    }
    for (const d of rd.droppedProposals) {
      const f = this.proposing.get(d.id);
      if (!f) continue;
      this.proposing.delete(d.id);
      const detail: ErrorDetail =
        d.reason === 'too-large'
          ? { code: 'RESOURCE_EXHAUSTED', message: 'entry too large', limit: 'maxEntryBytes' }
          : d.reason === 'uncommitted-cap'
            ? {
                code: 'RESOURCE_EXHAUSTED',
                message: 'too much uncommitted data',
                limit: 'maxUncommittedBytes',
                retryAfterMs: 50,
              }
            : this.notLeaderDetail();
      for (const c of f.cmds) c.resolve({ answer: errAnswer(detail), index: 0 });
      if (f.cmds.some((c) => c.cmd.cmd.type === 'advanceTime')) this.advanceInFlight = false;
    }
    for (const e of rd.committedEntries) this.applyEntry(e);
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.ctx);
      if (r) r.index = rs.index;
    }
    for (const dr of rd.droppedReads) {
      const r = this.reads.get(dr.ctx);
      if (!r) continue;
      this.reads.delete(dr.ctx);
      r.resolve({ asOf: this.asOf(), answer: errAnswer(this.notLeaderDetail()) });
    }
    this.serveReads();
    this.o.raft.advance();
    this.maybeSnapshot();
  }

  private applyEntry(e: Entry): void {
    if (e.type === EntryType.Normal) {
      const answers = this.o.sm.apply(e.index, e.data);
      const f = this.inflight.get(e.index);
      if (f) {
        this.inflight.delete(e.index);
        if (f.term === e.term) {
          for (let k = 0; k < f.cmds.length; k++) {
            const a = answers[k];
            const c = f.cmds[k] as PendingCommand;
            c.resolve({
              answer: a ? a.answer : errAnswer({ code: 'INTERNAL', message: 'no answer for command' }),
              index: e.index,
            });
            if (c.cmd.cmd.type === 'advanceTime') this.advanceInFlight = false;
          }
        } else {
          this.failCommands(f.cmds, {
            code: 'UNAVAILABLE',
            message: 'leadership changed before the command committed',
          });
        }
      }
      const events = this.o.sm.drainEvents();
      if (events.length > 0 && this.eventSubs.size > 0) {
        for (const ev of events) {
          for (const s of this.eventSubs) if (s.queue === undefined || s.queue === ev.queue) s.cb(ev);
        }
      }
    } else {
      this.o.sm.applyEmpty(e.index);
      if (e.type === EntryType.Config && e.config) this.membership = e.config;
    }
    this.applied = e.index;
    if (e.index % 100 === 0) this.recordDigest();
    this.o.onApplied?.(e.index);
    for (const w of [...this.appliedWaiters]) w();
  }

  private onSoftState(rd: Ready): void {
    const { leader, role } = rd.softState;
    const wasLeader = this.isLeader;
    this.isLeader = role === 'leader';
    if (leader !== this.leaderId) {
      this.o.log.info({ leader, term: rd.softState.term, role }, 'leader changed');
      this.leaderId = leader;
    }
    if (this.isLeader && !wasLeader) {
      // Continue the lease clock from the newest stamp in our log as it is now: what we applied,
      // and the entries above it, including uncommitted ones (never from truncated entries).
      const newest = { mono: this.o.sm.lastMono(), wall: this.o.sm.lastWall() };
      const st = this.o.storage;
      for (let i = Math.max(st.firstIndex(), this.applied + 1); i <= st.lastIndex(); i++) {
        const [ent] = st.entries(i, i + 1, Number.MAX_SAFE_INTEGER);
        if (ent && ent.type === EntryType.Normal) {
          const env = decodeEnvelope(ent.data);
          if (env) {
            newest.mono = Math.max(newest.mono, env.mono);
            newest.wall = Math.max(newest.wall, env.wall);
          }
        }
      }
      this.clock.startLeading(newest);
      this.advanceInFlight = false;
    } else if (!this.isLeader && wasLeader) {
      this.clock.stopLeading();
      // Pending items were started under our term: fail them (FAULTS P8). Proposed ones may still
      // commit under the next leader, so their outcome is unknown.
      this.failCommands(
        [...this.proposing.values(), ...this.inflight.values()].flatMap((f) => f.cmds),
        { code: 'UNAVAILABLE', message: 'leadership lost while committing', ...this.hint() },
      );
      this.proposing.clear();
      this.inflight.clear();
      this.failCommands(this.queued, this.notLeaderDetail());
      this.queued = [];
      for (const r of this.reads.values()) r.resolve({ asOf: this.asOf(), answer: errAnswer(this.notLeaderDetail()) });
      this.reads.clear();
      for (const cb of [...this.stepDownSubs]) cb();
    }
  }

  /** Packs queued commands into entries stamped with the log clocks (leader only). */
  private flushQueued(): void {
    if (this.queued.length === 0) return;
    if (!this.isLeader) {
      this.failCommands(this.queued, this.notLeaderDetail());
      this.queued = [];
      return;
    }
    const items: { id: number; data: Uint8Array }[] = [];
    while (this.queued.length > 0) {
      const batch = this.queued.splice(0, this.o.commandsPerEntryMax);
      const stamps: Stamps = this.clock.stamp();
      const data = encodeEnvelope({
        v: ENVELOPE_VERSION,
        mono: stamps.mono,
        wall: stamps.wall,
        cmds: batch.map((c) => c.cmd),
      });
      const id = this.nextProposalId++;
      this.proposing.set(id, { term: 0, index: 0, cmds: batch });
      items.push({ id, data });
    }
    this.o.raft.proposeBatch(items);
  }

  private serveReads(): void {
    for (const [ctx, r] of this.reads) {
      if (r.index !== null && this.applied >= r.index) {
        this.reads.delete(ctx);
        r.resolve(this.o.sm.read(r.query));
      }
    }
  }

  private expireDeadlines(): void {
    const now = this.o.clock.monoMs();
    for (const [ctx, r] of this.reads) {
      if (r.deadline <= now) {
        this.reads.delete(ctx);
        r.resolve({
          asOf: this.asOf(),
          answer: errAnswer({ code: 'DEADLINE_EXCEEDED', message: 'read deadline exceeded' }),
        });
      }
    }
  }

  /** Whether the effective membership still has a member without a storage id or an address. */
  private unbound(): boolean {
    const at = this.o.raft.effectiveConfigIndex;
    if (this.unboundCache?.at !== at) {
      const members = this.o.raft.status().membership.members;
      this.unboundCache = { at, value: members.some((m) => m.storageId === '' || m.address === '') };
    }
    return this.unboundCache.value;
  }

  /**
   * Bootstrap identity (DESIGN.md §5): the leader commits every member's storage id and advertised
   * address as soon as it has heard them, so that a member that later comes back with a wiped disk
   * is not counted for votes or commits.
   */
  private maybeBind(): void {
    if (!this.isLeader || this.ticks - this.bindAttemptTick < 5 || !this.unbound()) return;
    this.bindAttemptTick = this.ticks;
    const st = this.o.raft.status();
    const members = st.membership.members.map((m) => {
      const l =
        m.id === st.id ? { storageId: st.storageId, address: this.o.advertise ?? m.address } : this.learned.get(m.id);
      return {
        ...m,
        storageId: m.storageId !== '' ? m.storageId : (l?.storageId ?? ''),
        address: l?.address ? l.address : m.address,
      };
    });
    const r = this.o.raft.changeMembership({ type: 'bind', members });
    if (r.ok)
      this.o.log.info(
        { index: r.index, members: members.map((m) => [m.id, m.storageId]) },
        'binding member identities',
      );
  }

  /** Says, once per change, when storage identities disagree (DESIGN.md §5): a wiped disk is not a voter. */
  private reportIdentity(): void {
    if (this.ticks % 20 !== 0) return;
    const raft = this.o.raft;
    const mismatches = raft.stats.storageMismatch;
    if (mismatches > this.reportedMismatches) {
      this.reportedMismatches = mismatches;
      const members = raft.status().membership.members;
      const wrong = members
        .map((m) => ({ id: m.id, expected: m.storageId, presented: this.learned.get(m.id)?.storageId ?? '' }))
        .filter((x) => x.expected !== '' && x.presented !== '' && x.expected !== x.presented);
      const key = JSON.stringify(wrong);
      if (wrong.length > 0 && key !== this.reportedMismatchKey) {
        this.reportedMismatchKey = key;
        this.o.log.warn(
          { members: wrong },
          'refusing votes and acknowledgements from a member whose storage id does not match the membership (its data dir was wiped or replaced); it is not counted until an operator replaces it',
        );
      }
    }
    const st = raft.status();
    const me = st.membership.members.find((m) => m.id === st.id);
    const wiped = me !== undefined && me.storageId !== '' && me.storageId !== st.storageId;
    if (wiped && !this.reportedWiped) {
      this.o.log.error(
        { storageId: st.storageId, membershipStorageId: me.storageId },
        'this node was formatted anew (its data dir was wiped): the cluster knows it by another storage id, so it will not vote or count for commits until an operator replaces it',
      );
    }
    this.reportedWiped = wiped;
    // Before any membership reaches it, a wiped node learns its old identity from how peers address it.
    const otherIdentity = raft.stats.addressedToOtherStorage > 0;
    if (otherIdentity && !wiped && !this.reportedAddressedAsOther) {
      this.o.log.error(
        { storageId: st.storageId },
        'peers address this node by another storage id (its data dir was wiped or replaced): they will not count it for votes or commits until an operator replaces it',
      );
    }
    this.reportedAddressedAsOther = otherIdentity || this.reportedAddressedAsOther;
    const recovering = raft.recovering;
    if (recovering === null && this.reportedRecovering !== null) {
      this.o.log.warn(
        { floor: this.reportedRecovering, commit: st.commit, term: st.term },
        'caught up after the storage loss: voting again',
      );
    }
    this.reportedRecovering = recovering;
  }

  private onTick(): void {
    this.ticks++;
    this.maybeBind();
    this.reportIdentity();
    if (!this.isLeader || this.advanceInFlight || this.stopped) return;
    const now = this.o.clock.monoMs();
    if (now - this.lastAdvanceAt < this.o.advanceMinIntervalMs) return;
    const due = this.o.sm.nextDue();
    const stamps = this.clock.peek();
    const isDue = (due.mono !== null && due.mono <= stamps.mono) || (due.wall !== null && due.wall <= stamps.wall);
    if (!isDue) return;
    this.advanceInFlight = true;
    this.lastAdvanceAt = now;
    const cmd: Command = { type: 'advanceTime' };
    this.queued.push({
      cmd: { session: null, seq: 0, cmd },
      deadline: now + 10_000,
      resolve: () => {
        this.advanceInFlight = false;
      },
    });
  }

  private async holdForWork(cmds: SessionCommand[], received: number, opts: ExecuteOptions): Promise<void> {
    const lease = cmds.find((c) => c.cmd.type === 'lease')?.cmd;
    if (!lease || lease.type !== 'lease') return;
    const hasWork = (): boolean => {
      const r = this.o.sm.read({ type: 'stats', queue: lease.queue });
      if (!r.answer.ok) return false;
      const stats = r.answer.value as { counts: Record<string, number> };
      return (stats.counts['waiting'] ?? 0) > 0;
    };
    if (hasWork()) return;
    const until = Math.min(received + (opts.maxHoldMs ?? 0), opts.deadline - 50);
    await new Promise<void>((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        unsub();
        unStep();
        this.o.timers.clearTimeout(timer);
        opts.signal?.removeEventListener('abort', finish);
        resolve();
      };
      const unsub = this.subscribe({ queue: lease.queue }, (ev) => {
        if (ev.state === 'waiting') finish();
      });
      const unStep = this.onStepDown(finish);
      const timer = this.o.timers.setTimeout(finish, Math.max(0, until - this.o.clock.monoMs()));
      opts.signal?.addEventListener('abort', finish);
    });
  }

  private maybeSnapshot(): void {
    if (this.snapshotting || this.applied - this.lastSnapshotIndex < this.o.snapshotEvery) return;
    const index = this.applied;
    // A leader's snapshot stepped in while this Ready was being persisted replaced the log: ours
    // would describe state the node is about to discard (and its term is no longer known).
    if (this.o.raft.termAt(index) === undefined) return;
    this.snapshotting = true;
    const chunks = [...this.o.sm.snapshot()];
    const data = concat(chunks);
    const snap = this.o.raft.buildSnapshot(index, data);
    this.recordDigest();
    this.o.durable
      .createSnapshot(snap, { compactTo: Math.max(0, index - this.o.snapshotKeep) })
      .then(() => {
        this.lastSnapshotIndex = index;
        this.o.log.info({ index, bytes: data.length }, 'snapshot taken');
      })
      .catch((err: unknown) => this.fatal(err))
      .finally(() => {
        this.snapshotting = false;
      });
  }

  // ------------------------------------------------------------------ helpers

  private recordDigest(): void {
    const last = this.digests[this.digests.length - 1];
    if (last && last.index === this.applied) return;
    this.digests.push({ index: this.applied, digest: this.o.sm.digest() });
    if (this.digests.length > 1000) this.digests.splice(0, this.digests.length - 1000);
  }

  private failInflightBelow(index: number): void {
    for (const [i, f] of this.inflight) {
      if (i <= index) {
        this.inflight.delete(i);
        this.failCommands(f.cmds, { code: 'UNAVAILABLE', message: 'log replaced by a snapshot' });
      }
    }
  }

  private failCommands(cmds: PendingCommand[], detail: ErrorDetail): void {
    for (const c of cmds) c.resolve({ answer: errAnswer(detail), index: 0 });
  }

  private failAll(detail: ErrorDetail): void {
    this.failCommands(this.queued, detail);
    this.queued = [];
    for (const f of [...this.proposing.values(), ...this.inflight.values()]) this.failCommands(f.cmds, detail);
    this.proposing.clear();
    this.inflight.clear();
    for (const r of this.reads.values()) r.resolve({ asOf: this.asOf(), answer: errAnswer(detail) });
    this.reads.clear();
  }

  private fatal(err: unknown): void {
    if (this.stopped) return;
    const e = err instanceof Error ? err : new Error(String(err));
    this.o.log.error({ err: e.message }, 'fatal error in the driver loop; stopping');
    this.stop();
    this.o.onFatal(e);
  }

  private notLeaderAnswer(): Answer | null {
    if (this.stopped) return errAnswer({ code: 'UNAVAILABLE', message: 'node is shutting down' });
    if (this.isLeader && this.applied >= this.o.startCommit) return null;
    return errAnswer(this.notLeaderDetail());
  }

  private notLeaderDetail(): ErrorDetail {
    return { code: 'NOT_LEADER', message: 'this node is not the leader', ...this.hint() };
  }

  private hint(): { leaderHint?: string } {
    const addr = this.addressOf(this.leaderId);
    return addr ? { leaderHint: addr } : {};
  }

  private addressOf(id: string | null): string | null {
    if (id === null) return null;
    const m = this.membership.members.find((x) => x.id === id);
    return m && m.address !== '' ? m.address : null;
  }

  private isVoter(id: string): boolean {
    return this.o.raft.status().membership.members.some((m) => m.id === id && m.role === 'voter');
  }

  private asOf(): { index: number; mono: number; wall: number } {
    return { index: this.applied, mono: this.o.sm.lastMono(), wall: this.o.sm.lastWall() };
  }
}

function errAnswer(error: ErrorDetail): Answer {
  return { ok: false, error };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
