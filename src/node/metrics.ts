// Prometheus metrics of one node (prom-client: the standard text format and histograms without
// hand-written exposition code). One registry per node, so tests can run several nodes in one process.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class NodeMetrics {
  readonly registry = new Registry();
  readonly term = this.gauge('raftq_raft_term', 'Current Raft term');
  readonly isLeader = this.gauge('raftq_raft_is_leader', '1 if this node is the leader');
  readonly role = new Gauge({
    name: 'raftq_raft_role',
    help: 'Raft role of this node (1 for the current role)',
    labelNames: ['role'],
    registers: [this.registry],
  });
  readonly commitIndex = this.gauge('raftq_raft_commit_index', 'Commit index');
  readonly appliedIndex = this.gauge('raftq_raft_applied_index', 'Applied index');
  readonly followerMatch = new Gauge({
    name: 'raftq_raft_follower_match_index',
    help: 'Per-follower match index (leader only)',
    labelNames: ['follower'],
    registers: [this.registry],
  });
  readonly followerLag = new Gauge({
    name: 'raftq_raft_follower_lag',
    help: 'Per-follower lag in entries behind the leader last index (leader only)',
    labelNames: ['follower'],
    registers: [this.registry],
  });
  readonly proposals = new Counter({
    name: 'raftq_proposals_total',
    help: 'Client commands proposed',
    registers: [this.registry],
  });
  readonly proposalsFailed = new Counter({
    name: 'raftq_proposals_failed_total',
    help: 'Proposals dropped or failed, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly fsyncSeconds = new Histogram({
    name: 'raftq_fsync_seconds',
    help: 'Latency of one durable (fsynced) group-commit write',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly tasks = new Gauge({
    name: 'raftq_tasks',
    help: 'Tasks per queue and state',
    labelNames: ['queue', 'state'],
    registers: [this.registry],
  });
  readonly leasesExpired = this.counter('raftq_leases_expired_total', 'Leases that ended by deadline');
  readonly deadLettered = this.counter('raftq_dead_lettered_total', 'Tasks that became dead');
  readonly stateMachine = new Counter({
    name: 'raftq_statemachine_events_total',
    help: "The state machine's own counters (undecodable entries, stale commands, internal errors, deferred transitions, ...)",
    labelNames: ['counter'],
    registers: [this.registry],
  });
  readonly malformedRequests = this.counter('raftq_malformed_requests_total', 'Requests refused as malformed');
  readonly clientCalls = this.counter('raftq_client_calls_total', 'Client gRPC calls served (a Submit counts once)');
  readonly submitCalls = this.counter('raftq_client_submit_calls_total', 'Submit calls (coalesced commands)');
  readonly submitItems = this.counter('raftq_client_submit_items_total', 'Commands carried by Submit calls');
  readonly recovering = this.gauge(
    'raftq_recovering',
    '1 while this node recovers from a storage loss (not voting until its log is repaired)',
  );

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] });
  }

  private counter(name: string, help: string): Counter {
    return new Counter({ name, help, registers: [this.registry] });
  }
}
