// Keeps a node's NodeMetrics current: gauges and cumulative counts read at scrape time from the
// parts that keep them (the state machine's O(1) taskCounts() and monotonic counters, the Raft
// core's stats, the transports, storage), and, on apply, per-queue event counts and the enqueue →
// lease and lease → ack latencies, computed from the log stamps of the entries (so every replica
// observes the same values). docs/metrics.md describes each series.
import { statfsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Counter } from 'prom-client';
import type { QueueStats, TaskEvent } from '../protocol/index.js';
import type { RaftNode } from '../raft/node.js';
import type { QueueStateMachine } from '../statemachine/index.js';
import type { ClientServer } from '../rpc/client-server.js';
import type { PeerServer } from '../rpc/peer-server.js';
import type { PeerTransport } from '../rpc/peer-transport.js';
import type { FsyncSummary } from '../rpc/executor.js';
import type { NodeDriver } from './driver.js';
import { FsyncWindow } from './fsync-window.js';
import { OTHER_QUEUE, QUEUE_LABELS_MAX, type NodeMetrics } from './metrics.js';
import { refreshKeyMetrics } from './key-metrics.js';

export interface MetricsSources {
  driver: NodeDriver;
  sm: QueueStateMachine;
  raft: RaftNode;
  transport: PeerTransport;
  peerServer: PeerServer;
  /** The client server, once it listens (the admin port may be scraped before). */
  client(): ClientServer | null;
  /** Size in bytes of the newest snapshot's data, or 0. */
  snapshotBytes(): number;
  dataDir: string;
}

/** Label values for queues: the first QUEUE_LABELS_MAX queues seen keep their name, later ones share one. */
export class QueueLabels {
  private readonly named = new Set<string>();

  constructor(private readonly max = QUEUE_LABELS_MAX) {}

  of(queue: string): string {
    if (this.named.has(queue)) return queue;
    if (this.named.size >= this.max) return OTHER_QUEUE;
    this.named.add(queue);
    return queue;
  }
}

interface QueueChildren {
  /** Events applied since the last scrape, folded into `events` by refresh(). */
  counts: Partial<Record<TaskEvent['type'], number>>;
  events: Partial<Record<TaskEvent['type'], { inc(by: number): void }>>;
  wait: { observe(v: number): void };
  run: { observe(v: number): void };
}

export class MetricsRefresher {
  readonly labels = new QueueLabels();
  private readonly fsync = new FsyncWindow();
  private src: MetricsSources | null = null;
  /** Local monotonic ms when the last entry was applied: ages keep growing while nothing is appended. */
  private lastApplyAt = performance.now();
  private lastLeader: string | undefined = undefined;
  private readonly seen = new WeakMap<object, Map<string, number>>();
  private readonly queueChildren = new Map<string, QueueChildren>();
  private readonly leaderWatchers = new Set<(leader: string | null, term: number) => void>();

  constructor(readonly metrics: NodeMetrics) {}

  /** Calls `cb` on each leader change the driver reports; returns the unsubscribe. */
  watchLeader(cb: (leader: string | null, term: number) => void): () => void {
    this.leaderWatchers.add(cb);
    return () => this.leaderWatchers.delete(cb);
  }

  /** Wires the sources once the node is built, and starts observing applied task events. */
  attach(src: MetricsSources): void {
    this.src = src;
    src.driver.subscribe({}, (ev) => this.onEvent(src.sm, ev));
  }

  /** One durable group-commit write of `ms` milliseconds with `ops` operations (storage reports each). */
  written(ms: number, ops: number): void {
    this.metrics.fsyncSeconds.observe(ms / 1000);
    this.metrics.writeBatchOps.observe(ops);
    this.fsync.record(ms, performance.now());
  }

  /** A client call's commands were answered `ms` after they were proposed (the driver reports each call). */
  commandsAnswered(ms: number): void {
    this.metrics.commandCommitSeconds.observe(ms / 1000);
  }

  /** This node's fsync latency over the last minute, for its status and the console. */
  fsyncSummary(): FsyncSummary | null {
    return this.fsync.summary(performance.now());
  }

  /** The driver applied an entry. */
  applied(index: number): void {
    this.metrics.appliedIndex.set(index);
    this.lastApplyAt = performance.now();
  }

  /**
   * The driver saw the leader change. Counted: each new (leader, term) after the first one this node
   * learns; a spell without a leader in between does not count on its own.
   */
  leaderChanged(leader: string | null, term: number): void {
    for (const cb of this.leaderWatchers) cb(leader, term);
    if (leader === null) return;
    const key = `${leader}@${term}`;
    if (this.lastLeader !== undefined && this.lastLeader !== key) this.metrics.leaderChanges.inc();
    this.lastLeader = key;
  }

  /** Called on each scrape. */
  refresh(): void {
    const src = this.src;
    if (src === null) return;
    this.foldEvents();
    this.refreshRaft(src);
    this.refreshLog(src);
    this.refreshQueues(src.sm);
    this.refreshClients(src);
    this.refreshPeers(src);
  }

  private onEvent(sm: QueueStateMachine, ev: TaskEvent): void {
    const queue = this.labels.of(ev.queue);
    const c = this.children(queue);
    // Counted here, folded into the labelled counter on each scrape: prom-client hashes the labels on
    // every inc, and this runs for every task event on every node.
    c.counts[ev.type] = (c.counts[ev.type] ?? 0) + 1;
    if (ev.type !== 'leased' && ev.type !== 'completed') return;
    // Stamps only: a task read would copy its payload and history on every lease and ack.
    const t = sm.taskTiming(ev.id);
    if (t === null) return;
    const now = sm.lastMono();
    if (ev.type === 'leased' && t.leases === 1) {
      c.wait.observe(Math.max(0, now - t.enqueuedMono) / 1000);
    } else if (ev.type === 'completed' && t.leasedMono !== null) {
      c.run.observe(Math.max(0, now - t.leasedMono) / 1000);
    }
  }

  private foldEvents(): void {
    for (const [queue, c] of this.queueChildren) {
      for (const type of Object.keys(c.counts) as TaskEvent['type'][]) {
        const n = c.counts[type] ?? 0;
        (c.events[type] ??= this.metrics.queueEvents.labels({ queue, event: type })).inc(n);
      }
      c.counts = {};
    }
  }

  /**
   * A queue label's metric children, kept: `inc({labels})` hashes its labels on every call, for every
   * task event (these series are never reset, so a kept child stays the registered one).
   */
  private children(queue: string): QueueChildren {
    let c = this.queueChildren.get(queue);
    if (c === undefined) {
      const m = this.metrics;
      c = { counts: {}, events: {}, wait: m.waitSeconds.child(queue), run: m.runSeconds.child(queue) };
      this.queueChildren.set(queue, c);
    }
    return c;
  }

  private refreshRaft(src: MetricsSources): void {
    const m = this.metrics;
    const st = src.driver.status();
    m.term.set(st.term);
    m.isLeader.set(st.role === 'leader' ? 1 : 0);
    m.hasLeader.set(st.leader ? 1 : 0);
    for (const r of ['leader', 'follower', 'candidate', 'precandidate', 'learner'])
      m.role.set({ role: r }, st.role === r ? 1 : 0);
    m.commitIndex.set(st.commitIndex);
    m.appliedIndex.set(st.appliedIndex);
    m.recovering.set(st.recovering ? 1 : 0);
    m.followerMatch.reset();
    m.followerLag.reset();
    for (const mem of st.members) {
      if (mem.matchIndex !== undefined && mem.id !== st.id && st.role === 'leader') {
        m.followerMatch.set({ follower: mem.id }, mem.matchIndex);
        m.followerLag.set({ follower: mem.id }, Math.max(0, st.commitIndex - mem.matchIndex));
      }
    }
    for (const [event, n] of Object.entries(src.raft.stats)) this.sync(m.raftEvents, n, { event });
    const proposals = src.driver.proposalStats();
    this.sync(m.proposals, proposals.proposed);
    for (const [reason, n] of proposals.failed) this.sync(m.proposalsFailed, n, { reason });
  }

  private refreshLog(src: MetricsSources): void {
    const m = this.metrics;
    const log = src.driver.logStatus();
    m.logFirstIndex.set(log.firstIndex);
    m.logLastIndex.set(log.lastIndex);
    m.logEntries.set(Math.max(0, log.lastIndex - log.firstIndex + 1));
    m.logMemoryBytes.set(src.driver.logMemory.heldBytes);
    this.sync(m.logReadBack, src.driver.logMemory.entriesRead);
    m.snapshotIndex.set(log.snapshotIndex);
    m.snapshotBytes.set(src.snapshotBytes());
    try {
      const fs = statfsSync(src.dataDir);
      m.diskFree.set(fs.bavail * fs.bsize);
      m.diskTotal.set(fs.blocks * fs.bsize);
    } catch {
      // No statfs here (or the dir is gone): leave the last values.
    }
  }

  /**
   * Tasks per queue and state from the state machine's incremental counts, the replica-local
   * monotonic totals, and the oldest waiting age of each labelled queue — at the last entry's
   * stamps plus the local time since it was applied, so an idle cluster's ages keep growing.
   */
  private refreshQueues(sm: QueueStateMachine): void {
    const m = this.metrics;
    m.tasks.reset();
    m.oldestWaiting.reset();
    const sums = new Map<string, number>();
    const named = new Set<string>();
    const all = new Set<string>();
    for (const { queue, state, count } of sm.taskCounts()) {
      all.add(queue);
      const label = this.labels.of(queue);
      if (label !== OTHER_QUEUE) named.add(queue);
      const key = `${label}\u0000${state}`;
      sums.set(key, (sums.get(key) ?? 0) + count);
    }
    for (const [key, n] of sums) {
      const [queue = '', state = ''] = key.split('\u0000');
      m.tasks.set({ queue, state }, n);
    }
    m.queues.set(all.size);
    refreshKeyMetrics(m, sm.state, named);
    const idleMs = performance.now() - this.lastApplyAt;
    for (const queue of named) {
      const r = sm.read({ type: 'stats', queue });
      if (!r.answer.ok) continue;
      const age = (r.answer.value as QueueStats).oldestWaitingAgeMs;
      m.oldestWaiting.set({ queue }, age === null ? 0 : (age + idleMs) / 1000);
    }
    const c = sm.counters;
    this.sync(m.enqueued, c.enqueued);
    this.sync(m.completed, c.completed);
    this.sync(m.nacked, c.nacked);
    this.sync(m.leasesExpired, c.leasesExpired);
    this.sync(m.deadLettered, c.deadLettered);
    for (const [name, n] of Object.entries(c)) this.sync(m.stateMachine, n, { counter: name });
    m.sessions.set(sm.state.sessions.size);
  }

  private refreshClients(src: MetricsSources): void {
    const m = this.metrics;
    const calls = src.client()?.metrics();
    const peer = src.peerServer.metrics();
    const malformed =
      (calls?.invalidArgument ?? 0) +
      peer.invalidArgumentCount +
      peer.resourceExhaustedCount +
      src.raft.stats.malformed;
    this.sync(m.malformedRequests, malformed);
    if (!calls) return;
    this.sync(m.clientCalls, calls.calls);
    this.sync(m.submitCalls, calls.submitCalls);
    this.sync(m.submitItems, calls.submitItems);
    this.sync(m.rawSubmitStreams, calls.rawSubmitStreams ?? 0);
    for (const [code, n] of Object.entries(calls.errors)) this.sync(m.clientErrors, n, { code });
    m.eventStreams.set(calls.eventStreams);
    m.waiters.set(calls.waiters);
  }

  private refreshPeers(src: MetricsSources): void {
    const m = this.metrics;
    const t = src.transport.metrics();
    m.peerReachable.reset();
    m.peerInflight.reset();
    m.peerRawStream.reset();
    for (const [peer, link] of Object.entries(t.peers)) {
      m.peerReachable.set({ peer }, link.reachable === null ? -1 : link.reachable ? 1 : 0);
      m.peerInflight.set({ peer }, link.inflightCount);
      m.peerRawStream.set({ peer }, link.stream === null ? -1 : link.stream === 'raw' ? 1 : 0);
      this.sync(m.peerSent, link.sentCount, { peer });
      this.sync(m.peerSentBytes, link.sentBytes, { peer });
      this.sync(m.peerFailed, link.failedCount, { peer });
    }
    for (const [reason, n] of Object.entries(t.droppedByReason)) this.sync(m.peerDropped, n, { reason });
  }

  /** Advances a Prometheus counter (one label set of it) to a cumulative count kept elsewhere. */
  private sync(c: Counter<string>, total: number, labels: Record<string, string> = {}): void {
    let seen = this.seen.get(c);
    if (seen === undefined) this.seen.set(c, (seen = new Map()));
    const key = JSON.stringify(labels);
    const before = seen.get(key);
    if (before === undefined) c.inc(labels, 0); // a series that exists from the first scrape, at 0
    if (total > (before ?? 0)) c.inc(labels, total - (before ?? 0));
    seen.set(key, Math.max(before ?? 0, total));
  }
}
