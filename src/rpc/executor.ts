// What the client gRPC service needs from a node. The node's driver implements it; the service is a
// thin adapter from proto messages to these calls, so the same driver also runs in the simulation.
import type { Answer, ReadAnswer, ReadQuery, SessionCommand, TaskEvent } from '../protocol/commands.js';
import type { LogIndex } from '../protocol/ids.js';

export interface MemberStatus {
  id: string;
  /** Advertised client address. */
  address: string;
  role: 'leader' | 'follower' | 'candidate' | 'precandidate' | 'learner' | 'unreachable';
  term: number;
  commitIndex: number;
  appliedIndex: number;
  /** Leader's view only: the follower's match index. */
  matchIndex?: number;
  /** Its client addresses on named client networks, as far as this node knows (src/rpc/networks.ts). */
  networks?: NetworkAddress[];
}

/** A client address on a named client network (`--advertise name=host:port`). */
export interface NetworkAddress {
  name: string;
  address: string;
}

export interface NodeStatus {
  id: string;
  clusterId: string;
  leader: string | null;
  /** Advertised client address of the leader, if known. */
  leaderAddress: string | null;
  role: MemberStatus['role'];
  term: number;
  commitIndex: number;
  appliedIndex: number;
  /** Applied at least up to the commit index persisted at start, and a leader is known. */
  ready: boolean;
  /**
   * Set while this node recovers from a storage loss (its disk lost state it had promised): it
   * neither votes nor campaigns until its log is repaired up to `index` / past `term`.
   */
  recovering?: { index: number; term: number };
  /**
   * This node's election timeout in ms: each round waits between min and max without hearing a
   * leader before it campaigns (a client's lease bound must allow for max).
   */
  electionTimeoutMs?: { min: number; max: number };
  members: MemberStatus[];
  /** This node's own fsync latency over the last minute (null: no durable write in it); unset if not measured. */
  fsync?: FsyncSummary | null;
  /** This node's client addresses on named client networks (none: only `address`). */
  networks?: NetworkAddress[];
  /** The highest state machine version this node runs, and the cluster's active one as applied here (issue 16). */
  smMax?: number;
  activeVersion?: number;
}

/** Durable (fsynced) group-commit writes of one node over a recent window. */
export interface FsyncSummary {
  /** Writes in the window (at most the most recent 2,048). */
  writes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  windowMs: number;
}

export interface ExecuteOptions {
  /** Absolute deadline on this process's performance.now() clock. */
  deadline: number;
  /**
   * Lease commands only: hold the request up to this long while the queue has no ready task, so
   * workers need few round trips. The answer then carries heldMs (time from receipt to the granting
   * entry's creation, on this node's monotonic clock — docs/design.md §2 worker belief).
   */
  maxHoldMs?: number;
  signal?: AbortSignal;
  /**
   * The caller allows a follower to forward this to the leader (src/rpc/forward.ts) instead of
   * answering NOT_LEADER. Only the forwarding executor reads it.
   */
  forward?: boolean;
}

export interface ReadOptions {
  consistency: 'linearizable' | 'stale';
  /** Absolute deadline on this process's performance.now() clock. */
  deadline: number;
  /** As ExecuteOptions.forward (linearizable reads only). */
  forward?: boolean;
}

export interface ExecuteResult {
  /** One answer per command, in order. Errors such as NOT_LEADER come back as answers, not throws. */
  answers: Answer[];
  /** The Raft index of the entry that carried them (0 if never appended). */
  index: LogIndex | 0;
  heldMs: number;
}

export interface ClientExecutor {
  execute(cmds: SessionCommand[], opts: ExecuteOptions): Promise<ExecuteResult>;
  /** Linearizable reads go through ReadIndex on the leader; 'stale' reads this node's applied state. */
  read(query: ReadQuery, opts: ReadOptions): Promise<ReadAnswer>;
  status(): NodeStatus;
  /** Subscribes to task events applied on this node; returns the unsubscribe function. */
  subscribe(filter: { queue?: string }, onEvent: (e: TaskEvent) => void): () => void;
  /** Called when this node stops being leader (leader-side watches such as waitFor fail then). */
  onStepDown(cb: () => void): () => void;
}
