// Prometheus metrics of one node (prom-client: the standard text format, histograms and the default
// process / runtime collectors without hand-written exposition code). One registry per node, so
// tests can run several nodes in one process. docs/metrics.md lists every series; keep them in step.
// Cardinality is bounded: per-queue series only for the first QUEUE_LABELS_MAX queues (the rest sum
// into queue="_other"), peers are the members, every other label is a closed set.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { QueueHistogram } from './queue-histogram.js';

/** Queues that get their own label value; the others are summed under OTHER_QUEUE. */
export const QUEUE_LABELS_MAX = 50;
export const OTHER_QUEUE = '_other';

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600];

/** How often the event-loop lag histogram samples (prom-client's monitorEventLoopDelay resolution). */
const EVENT_LOOP_SAMPLE_MS = 1_000;

export class NodeMetrics {
  readonly registry = new Registry();
  readonly buildInfo = this.labelled(Gauge, 'raftq_build_info', 'Always 1; labels say what runs', [
    'version',
    'node_version',
  ]);
  // Raft
  readonly term = this.gauge('raftq_raft_term', 'Current Raft term');
  readonly isLeader = this.gauge('raftq_raft_is_leader', '1 if this node is the leader');
  readonly role = this.labelled(Gauge, 'raftq_raft_role', 'Raft role of this node (1 for the current role)', ['role']);
  readonly commitIndex = this.gauge('raftq_raft_commit_index', 'Commit index');
  readonly appliedIndex = this.gauge('raftq_raft_applied_index', 'Applied index');
  readonly leaderChanges = this.counter(
    'raftq_raft_leader_changes_total',
    'Times the leader this node knows changed (a new leader, or none)',
  );
  readonly hasLeader = this.gauge('raftq_raft_has_leader', '1 if this node knows a leader');
  readonly raftEvents = this.labelled(
    Counter,
    'raftq_raft_events_total',
    "The Raft core's own counters (elections, campaigns, step-downs, snapshots, ...)",
    ['event'],
  );
  readonly followerMatch = this.labelled(
    Gauge,
    'raftq_raft_follower_match_index',
    'Per-follower match index (leader only)',
    ['follower'],
  );
  readonly followerLag = this.labelled(
    Gauge,
    'raftq_raft_follower_lag',
    'Per-follower lag in entries behind the commit index (leader only)',
    ['follower'],
  );
  readonly recovering = this.gauge(
    'raftq_recovering',
    '1 while this node recovers from a storage loss (not voting until its log is repaired)',
  );
  // Log, snapshots, disk
  readonly logFirstIndex = this.gauge('raftq_log_first_index', 'First index kept in the log');
  readonly logLastIndex = this.gauge('raftq_log_last_index', 'Last index in the log');
  readonly logEntries = this.gauge('raftq_log_entries', 'Entries kept in the log (last - first + 1)');
  readonly logMemoryBytes = this.gauge(
    'raftq_log_memory_bytes',
    'Bytes of log entry data held in memory (older applied data is read back from disk when a follower needs it)',
  );
  readonly logReadBack = this.counter(
    'raftq_log_read_back_entries_total',
    'Log entries read back from disk into memory for a lagging follower',
  );
  readonly snapshotIndex = this.gauge('raftq_snapshot_index', 'Index of the newest snapshot');
  readonly snapshotBytes = this.gauge('raftq_snapshot_bytes', 'Size of the newest snapshot (state machine data)');
  readonly fsyncSeconds = new Histogram({
    name: 'raftq_fsync_seconds',
    help: 'Latency of one durable (fsynced) group-commit write: the append of log entries and hard state',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly commandCommitSeconds = new Histogram({
    name: 'raftq_command_commit_seconds',
    help: 'Leader: from a client call being proposed (after a held lease found work) to its answers, once per call',
    buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly writeBatchOps = new Histogram({
    name: 'raftq_write_batch_ops',
    help: 'Storage operations per group-commit write',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096],
    registers: [this.registry],
  });
  readonly diskFree = this.gauge('raftq_disk_free_bytes', 'Free bytes on the data directory file system');
  readonly diskTotal = this.gauge('raftq_disk_total_bytes', 'Size of the data directory file system');
  // Queues
  readonly tasks = this.labelled(Gauge, 'raftq_tasks', 'Tasks per queue and state', ['queue', 'state']);
  readonly queues = this.gauge('raftq_queues', 'Queues held by the state machine');
  readonly oldestWaiting = this.labelled(
    Gauge,
    'raftq_queue_oldest_waiting_age_seconds',
    'Age of the oldest waiting task per queue, now (0 when none waits)',
    ['queue'],
  );
  readonly enqueued = this.counter(
    'raftq_tasks_enqueued_total',
    'Tasks created (enqueues, dead-letter copies, redrives)',
  );
  readonly completed = this.counter('raftq_tasks_completed_total', 'Tasks acked');
  readonly nacked = this.counter('raftq_tasks_nacked_total', 'Nacks accepted (including those that kill the task)');
  readonly leasesExpired = this.counter('raftq_leases_expired_total', 'Leases that ended by deadline');
  readonly deadLettered = this.counter('raftq_dead_lettered_total', 'Tasks that became dead');
  readonly queueEvents = this.labelled(
    Counter,
    'raftq_queue_events_total',
    'Task events applied, per queue and event (enqueued, leased, completed, failed, lease_expired, dead, ...)',
    ['queue', 'event'],
  );
  // Observed for every task on every node: counted cheaply, folded at each scrape (queue-histogram.ts).
  readonly waitSeconds = new QueueHistogram({
    name: 'raftq_queue_wait_seconds',
    help: 'Enqueue to first lease, per queue, from the log stamps of the two entries',
    buckets: LATENCY_BUCKETS,
    registry: this.registry,
  });
  readonly runSeconds = new QueueHistogram({
    name: 'raftq_task_run_seconds',
    help: 'Lease to ack, per queue, from the log stamps of the two entries',
    buckets: LATENCY_BUCKETS,
    registry: this.registry,
  });
  readonly stateMachine = this.labelled(
    Counter,
    'raftq_statemachine_events_total',
    "The state machine's own counters (undecodable entries, stale commands, internal errors, deferred transitions, ...)",
    ['counter'],
  );
  // Clients and proposals
  readonly proposals = this.counter('raftq_proposals_total', 'Client commands proposed');
  readonly proposalsFailed = this.labelled(
    Counter,
    'raftq_proposals_failed_total',
    'Proposals dropped or failed, by reason',
    ['reason'],
  );
  readonly malformedRequests = this.counter('raftq_malformed_requests_total', 'Requests refused as malformed');
  readonly clientCalls = this.counter('raftq_client_calls_total', 'Client gRPC calls served (a Submit counts once)');
  readonly clientErrors = this.labelled(
    Counter,
    'raftq_client_errors_total',
    'Client calls and commands refused or failed, by error code',
    ['code'],
  );
  readonly submitCalls = this.counter('raftq_client_submit_calls_total', 'Submit calls (coalesced commands)');
  readonly submitItems = this.counter('raftq_client_submit_items_total', 'Commands carried by Submit calls');
  readonly rawSubmitStreams = this.counter(
    'raftq_client_raw_submit_streams_total',
    'Submit streams opened on the raw TCP lane (no HTTP/2)',
  );
  readonly sessions = this.gauge('raftq_client_sessions', 'Client sessions held by the state machine');
  readonly eventStreams = this.gauge('raftq_client_event_streams', 'Open task-event streams');
  readonly waiters = this.gauge('raftq_client_waiters', 'Client calls waiting (long-poll leases, result waits)');
  // Peer links
  readonly peerReachable = this.labelled(
    Gauge,
    'raftq_peer_reachable',
    'Peer link state: 1 reachable, 0 unreachable, -1 not yet known',
    ['peer'],
  );
  readonly peerSent = this.labelled(Counter, 'raftq_peer_sent_total', 'Messages a peer acknowledged', ['peer']);
  readonly peerSentBytes = this.labelled(Counter, 'raftq_peer_sent_bytes_total', 'Bytes a peer acknowledged', ['peer']);
  readonly peerFailed = this.labelled(Counter, 'raftq_peer_failed_total', 'Messages lost with a failed call', ['peer']);
  readonly peerDropped = this.labelled(
    Counter,
    'raftq_peer_dropped_total',
    'Messages never sent, by reason (Raft retransmits)',
    ['reason'],
  );
  readonly peerInflight = this.labelled(Gauge, 'raftq_peer_inflight', 'Messages in flight to a peer', ['peer']);
  readonly peerRawStream = this.labelled(
    Gauge,
    'raftq_peer_raw_stream',
    "Peer link's message stream: 1 raw TCP, 0 gRPC (TLS, or a peer without the raw stream), -1 none yet",
    ['peer'],
  );

  constructor(opts: { version?: string; defaultMetrics?: boolean } = {}) {
    this.buildInfo.set({ version: opts.version ?? 'unknown', node_version: process.version }, 1);
    // CPU, memory, heap, event-loop lag, GC, handles: prom-client's standard names (process_*, nodejs_*).
    // The lag is sampled every second, not prom-client's 10 ms: its timer was 10 of an idle follower's
    // 25 wake-ups a second at 100 ms (docs/decisions.md, "Fewer wake-ups at idle").
    if (opts.defaultMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] });
  }

  private counter(name: string, help: string): Counter {
    return new Counter({ name, help, registers: [this.registry] });
  }

  private labelled<T extends string, M>(
    Kind: new (c: { name: string; help: string; labelNames: readonly T[]; registers: Registry[] }) => M,
    name: string,
    help: string,
    labelNames: readonly T[],
  ): M {
    return new Kind({ name, help, labelNames, registers: [this.registry] });
  }
}
