// The node's driver loop around the pure Raft core (the Ready contract of src/raft/types.ts), writes
// pipelined: a Ready is taken as soon as there is one (its committed entries, durable on a majority
// if not yet here, apply at once) and its write queued behind those in flight; as each completes, in order,
// its messages go out and the core hears advance(). Plus the leader's duties: stamping entries with
// the log clocks, batching commands that arrive while its entries are written (command-pipeline.ts),
// answering them once applied, ReadIndex reads (read-tracker.ts), advanceTime only when due, member
// identities (identity-binding.ts), long-poll lease holds (lease-hold.ts) and snapshots
// (snapshot-policy.ts). No I/O of its own: storage, transport, clocks and timers are injected, so the
// same driver runs in the deterministic simulation and in the real process.
import type { Answer, ReadAnswer, ReadQuery, SessionCommand, TaskEvent, ErrorDetail } from '../protocol/index.js';
import type { LogIndex } from '../protocol/ids.js';
import { assert } from '../protocol/assert.js';
import { EntryType, type Entry, type Membership, type Message, type Ready } from '../raft/types.js';
import type { ClientExecutor, ExecuteOptions, ExecuteResult, NodeStatus } from '../rpc/executor.js';
import { CommandPipeline } from './command-pipeline.js';
import { errAnswer, tooManyCommands, type DriverOptions } from './driver-types.js';
import { IdentityBinding } from './identity-binding.js';
import { Callbacks } from './callbacks.js';
import { HeldLeases, holdForWork } from './lease-hold.js';
import { LogClock, newestStamp } from './log-clock.js';
import { LogMemory } from './log-memory.js';
import { ReadTracker } from './read-tracker.js';
import { ScheduleFeeder } from './schedule-feeder.js';
import { memberRank, SnapshotPolicy } from './snapshot-policy.js';
import { AppliedWaiters } from './applied-waiters.js';
import { snapshotDataBytes } from './storage/file-backed-snapshot.js';
import { transferLeadership } from './leadership-transfer.js';
import { nodeStatus } from './driver-status.js';
import { TickScheduler } from './tick-scheduler.js';
import { DeferredCommitWriter } from './deferred-commit.js';

export { realTimers } from './driver-types.js';
export type { DriverLogger, DriverOptions, DurableLog, Timers } from './driver-types.js';

const DEFAULT_OPTIONS = {
  snapshotKeep: 1000,
  snapshotKeepBytes: 16 * 1024 * 1024,
  snapshotEveryBytes: 64 * 1024 * 1024,
  snapshotSliceChunks: 64,
  snapshotSliceGapMs: 4,
  logMemoryBytes: 16 * 1024 * 1024,
  advanceMinIntervalMs: 100,
  commandsPerEntryMax: 1024,
  pipelineDepth: 4,
  proposalWritesMax: 1,
  pendingCommandsMax: 100_000,
  pendingReadsMax: 100_000,
} satisfies Partial<DriverOptions>;
type Defaulted = keyof typeof DEFAULT_OPTIONS;

export class NodeDriver implements ClientExecutor {
  /** A synced write that stale reads are waiting on (shared). */
  private commitSync: Promise<void> | null = null;
  /** Ready writes; a commit-only hard state waits for the next one (deferred-commit.ts). */
  private readonly writer: DeferredCommitWriter;
  readonly clock: LogClock;
  private readonly o: Required<Pick<DriverOptions, Defaulted>> & DriverOptions;
  private looping = false;
  private again = false;
  /** Readys taken whose write has not completed yet (entryWrites: those writing entries), and the newest's completion. */
  private inflight = 0;
  private entryWrites = 0;
  private written: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly ticker: TickScheduler;
  private readonly configSubs = new Callbacks();
  private configIndex = -1;
  private readonly commands: CommandPipeline;
  private readonly reads = new ReadTracker();
  private readonly identity: IdentityBinding;
  private readonly snapshots: SnapshotPolicy;
  /** The log's data kept in memory: evicted beyond a budget, read back for a lagging follower. */
  readonly logMemory: LogMemory;
  private isLeader = false;
  private leaderId: string | null = null;
  private role: string | null = null;
  private applied = 0;
  private advanceInFlight = false;
  private lastAdvanceAt = -Infinity;
  private readonly eventSubs = new Set<{ queue?: string; cb: (e: TaskEvent) => void }>();
  private readonly stepDownSubs = new Callbacks();
  /** Held leases' rechecks, after each batch of applied entries (lease-hold.ts). */
  private readonly applySubs = new Callbacks();
  private readonly appliedWaiters: AppliedWaiters;
  private membership: Membership;
  private ticks = 0;
  private readonly feeder: ScheduleFeeder;
  /** Held leases by queue: a plain enqueue there wakes them into its entry. */
  private readonly holds = new HeldLeases();

  constructor(opts: DriverOptions) {
    this.o = { ...DEFAULT_OPTIONS, ...opts };
    this.clock = new LogClock(opts.clock);
    this.appliedWaiters = new AppliedWaiters(opts.timers);
    this.applied = opts.sm.appliedIndex();
    this.commands = new CommandPipeline(this.o.commandsPerEntryMax, opts.raft.maxEntryBytes);
    this.identity = new IdentityBinding(opts.raft, opts.log, opts.advertise);
    this.snapshots = new SnapshotPolicy(
      {
        raft: opts.raft,
        sm: opts.sm,
        durable: opts.durable,
        log: opts.log,
        timers: opts.timers,
        snapshotEvery: opts.snapshotEvery,
        snapshotEveryBytes: this.o.snapshotEveryBytes,
        snapshotKeep: this.o.snapshotKeep,
        snapshotKeepBytes: this.o.snapshotKeepBytes,
        storage: opts.storage,
        sliceChunks: this.o.snapshotSliceChunks,
        sliceGapMs: this.o.snapshotSliceGapMs,
        now: () => opts.clock.monoMs(),
        rank: () => memberRank(this.membership, opts.raft.id),
        startBytes: snapshotDataBytes(opts.storage.snapshot()),
        fatal: (err) => this.fatal(err),
        plantEarlyReuse: opts.plantSnapshotEarlyReuse === true,
      },
      opts.storage.snapshot()?.meta.index ?? 0,
    );
    this.logMemory = new LogMemory({
      storage: opts.storage,
      durable: opts.durable,
      keepBytes: this.o.logMemoryBytes,
      log: opts.log,
      now: () => opts.clock.monoMs(),
      readBack: () => {
        opts.raft.resumeAppends();
        this.kick();
      },
    });
    this.clock.observe({ mono: opts.sm.lastMono(), wall: opts.sm.lastWall() });
    this.membership = opts.raft.status().membership;
    this.feeder = new ScheduleFeeder(opts.sm, opts.log);
    this.writer = new DeferredCommitWriter(opts.durable, (err) => this.fatal(err), opts.plantStaleDeferred === true);
    this.ticker = new TickScheduler({
      clock: opts.clock,
      timers: opts.timers,
      tickMs: opts.tickMs,
      onTicks: (n) => this.onTicks(n),
      horizon: () => this.idleHorizon(),
    });
  }

  start(): void {
    this.ticker.start();
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    this.snapshots.abandon();
    this.ticker.stop();
    const detail: ErrorDetail = { code: 'UNAVAILABLE', message: 'node is shutting down' };
    this.commands.failQueued(detail);
    this.commands.failStarted(detail, 'shutdown');
    this.reads.failAll(() => ({ asOf: this.asOf(), answer: errAnswer(detail) }));
  }

  /** A message from a peer. */
  receive(msg: Message): void {
    if (this.stopped) return;
    this.identity.learn(msg);
    this.ticker.catchUp();
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
    if (this.commands.pendingCount() + cmds.length > this.o.pendingCommandsMax) {
      const a = tooManyCommands();
      return { answers: cmds.map(() => a), index: 0, heldMs: 0 };
    }
    let heldMs = 0;
    let proposedAt = received;
    let pending: Promise<{ answer: Answer; index: LogIndex | 0 }>[] = [];
    const propose = (): void => {
      proposedAt = this.o.clock.monoMs();
      heldMs = Math.max(0, Math.round(proposedAt - received));
      const deadline = opts.deadline;
      pending = cmds.map((cmd) => new Promise((resolve) => this.commands.enqueue({ cmd, resolve, deadline })));
    };
    if (opts.maxHoldMs !== undefined && opts.maxHoldMs > 0) {
      await holdForWork(this.holdDeps, cmds, received, opts, propose);
    } else {
      propose();
    }
    this.kick();
    const results = await Promise.all(pending);
    this.o.onCommandsAnswered?.(this.o.clock.monoMs() - proposedAt);
    return { answers: results.map((r) => r.answer), index: results[0]?.index ?? 0, heldMs };
  }

  async read(query: ReadQuery, opts: { consistency: 'linearizable' | 'stale'; deadline: number }): Promise<ReadAnswer> {
    if (opts.consistency === 'stale') return this.staleRead(query);
    const nl = this.notLeaderAnswer();
    if (nl) return { asOf: this.asOf(), answer: nl };
    if (this.reads.size() >= this.o.pendingReadsMax) {
      return {
        asOf: this.asOf(),
        answer: errAnswer({
          code: 'RESOURCE_EXHAUSTED',
          message: 'too many linearizable reads pending',
          limit: 'pendingReads',
          retryAfterMs: 100,
        }),
      };
    }
    const { ctx, answer } = this.reads.add(query, opts.deadline);
    this.o.raft.readIndex(ctx);
    this.kick();
    return answer;
  }

  /**
   * A follower read at this node's applied index, served only once the durable commit index covers
   * it: commit-only writes are not fsynced, and a restart must never serve an older state than one it
   * served before (docs/faults.md Q11). Reads waiting for the same thing share one synced write.
   */
  private async staleRead(query: ReadQuery): Promise<ReadAnswer> {
    for (let round = 0; round < 3; round++) {
      if (this.applied < this.o.startCommit || this.stopped) break;
      if (this.applied <= this.o.durable.durableCommit()) return this.o.sm.read(query, this.readClock());
      this.commitSync ??= this.writer.sync().finally(() => (this.commitSync = null));
      await this.commitSync;
    }
    return { asOf: this.asOf(), answer: errAnswer({ code: 'UNAVAILABLE', message: 'node is catching up' }) };
  }

  status(): NodeStatus {
    return nodeStatus(this.o, {
      applied: this.applied,
      ready: this.ready(),
      isVoter: (id) => this.isVoter(id),
      addressOf: (id) => this.addressOf(id),
    });
  }

  subscribe(filter: { queue?: string }, onEvent: (e: TaskEvent) => void): () => void {
    const sub = { ...filter, cb: onEvent };
    this.eventSubs.add(sub);
    return () => this.eventSubs.delete(sub);
  }

  /** Called after a loop in which the core's newest membership (in the log, committed or not) changed. */
  onConfigChange(cb: () => void): () => void {
    return this.configSubs.add(cb);
  }

  onStepDown(cb: () => void): () => void {
    return this.stepDownSubs.add(cb);
  }

  /** (index, digest) pairs at snapshots and every 100th index, for replica comparison. */
  digestHistory(): { index: number; digest: string }[] {
    return this.snapshots.digestHistory(this.applied);
  }

  /** Client commands proposed, and proposed commands that failed by reason (cumulative). */
  proposalStats(): { proposed: number; failed: ReadonlyMap<string, number> } {
    return this.commands.stats;
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
    return this.appliedWaiters.wait(this.applied, index, ms);
  }

  /** Hands leadership to the most up-to-date voter; resolves true once another node leads. */
  transferLeadership(ms: number): Promise<boolean> {
    const { raft, clock, timers, tickMs } = this.o;
    return transferLeadership(
      { raft, clock, timers, tickMs, isVoter: (id) => this.isVoter(id), kick: () => this.kick() },
      ms,
    );
  }

  // ------------------------------------------------------------------ the loop

  private kick(): void {
    if (this.looping) {
      this.again = true;
      return;
    }
    this.looping = true;
    this.loop().then(
      () => {
        this.looping = false;
        // A kick that came after the loop's last check (same task) is not lost: the loop sleeps now.
        if (this.again && !this.stopped) this.kick();
      },
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
      while (this.inflight < this.o.pipelineDepth && !this.stopped && this.o.raft.hasReady()) {
        // Not awaited: the write completes later (completeReady), and the next batch is taken meanwhile.
        this.handleReady(this.o.raft.ready()).catch((err: unknown) => this.fatal(err));
        // Commands that arrived meanwhile join the next Ready (under load the loop never runs dry).
        this.flushQueued();
        if (++rounds > 10_000) throw new Error('driver: Ready loop did not settle');
      }
      this.reads.expire(this.o.clock.monoMs(), () => ({
        asOf: this.asOf(),
        answer: errAnswer({ code: 'DEADLINE_EXCEEDED', message: 'read deadline exceeded' }),
      }));
    } while (this.again && !this.stopped);
    this.noteConfigChange();
    this.ticker.replan();
  }

  /** Takes a Ready: what needs no write is done now; resolves once its write and completion are done. */
  private handleReady(rd: Ready): Promise<void> {
    this.onSoftState(rd);
    if (this.o.advertise && rd.messages.length > 0 && this.identity.unbound()) {
      for (const m of rd.messages) m.fromAddress = this.o.advertise;
    }
    // A leader's Appends go out before its own write (Raft thesis §10.2.1): the core counts its own log
    // for commit only after advance(). Every other message waits for the write it may depend on.
    const early = (rd.sendBeforePersist || this.o.plantSendBeforeWrite === true) && rd.messages.length > 0;
    if (early) this.o.send(rd.messages);
    this.commands.onProposed(rd.proposed);
    // (A dropped advanceTime's own resolve clears advanceInFlight.)
    this.commands.onDropped(rd.droppedProposals, this.notLeaderDetail());
    // Committed (durable on a majority), handed out for writing here, maybe not durable here yet; none
    // past a snapshot still being written.
    assert(rd.snapshot === null || rd.committedEntries.length === 0, 'driver: committed entries beside a snapshot');
    // Applied at once, a snapshot's chunks being taken or not (the state machine's copy-on-write).
    for (const e of rd.committedEntries) {
      if (this.stopped) break;
      this.applyEntry(e);
    }
    if (rd.committedEntries.length > 0) this.applySubs.run();
    this.reads.onReadStates(rd.readStates);
    this.reads.onDropped(rd.droppedReads, () => ({ asOf: this.asOf(), answer: errAnswer(this.notLeaderDetail()) }));
    this.reads.serve(this.applied, (q) => this.o.sm.read(q, this.readClock()));
    // The store writes in order; completions are chained so that messages and advance() keep it too.
    const write = this.writer.persist(rd);
    this.inflight++;
    if (rd.entries.length > 0) this.entryWrites++;
    // Nothing to write and nothing before it in flight: complete now. A heartbeat's answer then needs no
    // promise chain, and the tick is not re-armed for one tick meanwhile (a wake-up each, at idle).
    if (write === null && (this.inflight === 1 || this.o.plantCompleteEarly === true)) {
      this.completeReady(rd, early);
      return this.written;
    }
    const before = this.written;
    // A failed write fails every later completion too (the node stops: fatal).
    const done = Promise.all([before, write]).then(() => this.completeReady(rd, early));
    this.written = done;
    return done;
  }

  /** The Ready's write is durable (and every earlier one): its messages, a snapshot's restore, advance(). */
  private completeReady(rd: Ready, early: boolean): void {
    this.inflight--;
    if (rd.entries.length > 0) this.entryWrites--;
    if (this.stopped) return;
    if (rd.snapshot !== null) {
      const index = rd.snapshot.meta.index;
      this.snapshots.installed(index, rd.snapshot.data.byteLength);
      this.o.sm.restore(rd.snapshot.data);
      this.applied = index;
      this.membership = rd.snapshot.meta.membership;
      this.clock.observe({ mono: this.o.sm.lastMono(), wall: this.o.sm.lastWall() });
      this.commands.failInflightBelow(rd.snapshot.meta.index);
      this.applySubs.run();
      this.o.log.info({ index: rd.snapshot.meta.index, term: rd.snapshot.meta.term }, 'installed snapshot from leader');
    }
    if (!early && rd.messages.length > 0) this.o.send(rd.messages);
    this.o.raft.advance();
    // The store records a snapshot only up to the commit index it was given: write the deferred one first.
    if (this.snapshots.isDue(this.applied)) this.writer.flush();
    // A snapshot covers only entries durable here (a leader may apply ahead of its own write): one that
    // is due waits for the next completion that catches up (with one entry write in flight, this one).
    if (this.applied <= this.o.raft.durableLastIndex) this.snapshots.maybeSnapshot(this.applied);
    this.logMemory.afterReady(this.applied);
    this.kick();
  }

  private applyEntry(e: Entry): void {
    assert(e.index === this.applied + 1, `driver: applied ${this.applied} is followed by entry ${e.index}`);
    if (e.type === EntryType.Normal) {
      const answers = this.o.sm.apply(e.index, e.data, e.term);
      this.commands.onApplied(e, answers);
      const events = this.o.sm.drainEvents();
      if (events.length > 0 && this.eventSubs.size > 0) {
        for (const ev of events) {
          for (const s of this.eventSubs) if (s.queue === undefined || s.queue === ev.queue) s.cb(ev);
        }
      }
    } else {
      this.o.sm.applyEmpty(e.index);
      if (e.type === EntryType.Config && e.config) {
        this.membership = e.config;
        const members = e.config.members.map((m) => `${m.id}:${m.role}`);
        this.o.log.info({ index: e.index, term: e.term, members }, 'membership changed');
      }
    }
    this.applied = e.index;
    this.snapshots.noteApplied(e.data.byteLength);
    if (e.index % 100 === 0) this.snapshots.recordDigest(this.applied);
    this.o.onApplied?.(e.index);
    this.appliedWaiters.notify(e.index);
  }

  private onSoftState(rd: Ready): void {
    const { leader, role, term } = rd.softState;
    const wasLeader = this.isLeader;
    this.isLeader = role === 'leader';
    // Cluster events log at info, the default level (docs/decisions.md): elections and leadership.
    if (role !== this.role) {
      const election = role === 'candidate' || role === 'precandidate';
      this.o.log.info({ role, from: this.role, term, leader }, election ? 'election started' : 'role changed');
      this.role = role;
    }
    if (leader !== this.leaderId) {
      this.o.log.info({ leader, term, role }, 'leader changed');
      this.leaderId = leader;
      this.o.onLeaderChange?.(leader, term);
    }
    if (this.isLeader && !wasLeader) {
      this.clock.startLeading(newestStamp(this.o.storage, this.applied, this.o.sm));
      this.advanceInFlight = false;
    } else if (!this.isLeader && wasLeader) {
      this.clock.stopLeading();
      // Pending items were started under our term: fail them (docs/faults.md P8). Proposed ones may still
      // commit under the next leader, so their outcome is unknown.
      this.commands.failStarted(
        { code: 'UNAVAILABLE', message: 'leadership lost while committing', ...this.hint() },
        'leadership-lost',
      );
      this.commands.failQueued(this.notLeaderDetail());
      this.reads.failAll(() => ({ asOf: this.asOf(), answer: errAnswer(this.notLeaderDetail()) }));
      this.stepDownSubs.run();
      this.feeder.reset();
    }
  }

  /** Packs queued commands into entries stamped with the log clocks (leader only). */
  private flushQueued(): void {
    if (this.commands.queuedCount() === 0) return;
    if (!this.isLeader) {
      this.commands.failQueued(this.notLeaderDetail());
      return;
    }
    // Commands that arrive while our entries are being written wait to share the next entry: on a
    // busy CPU, fewer bigger entries beat more writes in flight (bench/RESULTS.md, session 9). Held
    // leases the queued plain tasks wake join the end of the same entry (lease-hold.ts).
    if (this.entryWrites >= this.o.proposalWritesMax) return;
    this.holds.wake(this.commands.queuedCommands(), this.o.sm);
    this.o.raft.proposeBatch(this.commands.pack(() => this.clock.stamp()));
  }

  private noteConfigChange(): void {
    const at = this.o.raft.effectiveConfigIndex;
    if (at === this.configIndex) return;
    this.configIndex = at;
    this.configSubs.run();
  }

  private onTicks(n: number): void {
    for (let i = 0; i < n; i++) this.o.raft.tick();
    this.onTick(n);
    this.kick();
  }

  /** Ticks (≥ 1) the driver may sleep: 1 while anything is in flight or due; else the core's next event. */
  private idleHorizon(): number {
    if (this.stopped || this.inflight > 0 || this.writer.pending || this.advanceInFlight) return 1;
    if (this.commands.pendingCount() > 0 || this.reads.size() > 0) return 1;
    let k = this.o.raft.ticksToNextEvent();
    if (this.isLeader) {
      if (this.identity.unbound()) return 1;
      const due = this.o.sm.nextDue();
      const stamps = this.clock.peek();
      const tickMs = this.o.tickMs;
      if (due.mono !== null) k = Math.min(k, Math.ceil((due.mono - stamps.mono) / tickMs));
      if (due.wall !== null) k = Math.min(k, Math.ceil((due.wall - stamps.wall) / tickMs));
    }
    return Math.max(1, k);
  }

  private onTick(n: number): void {
    this.ticks += n;
    this.writer.flush();
    this.identity.maybeBind(this.ticks, this.isLeader);
    this.identity.report(this.ticks);
    if (this.isLeader && !this.stopped && this.applied >= this.o.startCommit) this.feedSchedules();
    if (!this.isLeader || this.advanceInFlight || this.stopped) return;
    const now = this.o.clock.monoMs();
    if (now - this.lastAdvanceAt < this.o.advanceMinIntervalMs) return;
    const due = this.o.sm.nextDue();
    const stamps = this.clock.peek();
    const isDue = (due.mono !== null && due.mono <= stamps.mono) || (due.wall !== null && due.wall <= stamps.wall);
    if (!isDue) return;
    this.advanceInFlight = true;
    this.lastAdvanceAt = now;
    this.commands.enqueue({
      cmd: { session: null, seq: 0, cmd: { type: 'advanceTime' } },
      deadline: now + 10_000,
      resolve: () => {
        this.advanceInFlight = false;
      },
    });
  }

  /** The leader's schedule slot refills (schedule-feeder.ts), proposed like advanceTime. */
  private feedSchedules(): void {
    const now = this.o.clock.monoMs();
    this.feeder.tick(
      now,
      (cmd, done) =>
        this.commands.enqueue({ cmd: { session: null, seq: 0, cmd }, deadline: now + 10_000, resolve: done }),
      this.clock.peek().wall,
    );
  }

  private get holdDeps(): Parameters<typeof holdForWork>[0] {
    return {
      onPlainWork: (queue, wake) => this.holds.add(queue, wake),
      sm: this.o.sm,
      clock: this.o.clock,
      timers: this.o.timers,
      afterApply: (cb) => this.applySubs.add(cb),
      onStepDown: (cb) => this.onStepDown(cb),
    };
  }

  // ------------------------------------------------------------------ helpers

  private fatal(err: unknown): void {
    if (this.stopped) return;
    const e = err instanceof Error ? err : new Error(String(err));
    // `{ err }`: pino's serializer keeps the type and the stack (an AssertionError is a bug to read).
    this.o.log.error({ err: e }, 'fatal error in the driver loop; stopping');
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

  /** Reads on the leader compute ages at its current log clocks; elsewhere at the last applied stamps. */
  private readClock(): { mono: number; wall: number } | undefined {
    return this.isLeader ? this.clock.peek() : undefined;
  }

  private asOf(): { index: number; mono: number; wall: number } {
    return { index: this.applied, mono: this.o.sm.lastMono(), wall: this.o.sm.lastWall() };
  }
}
