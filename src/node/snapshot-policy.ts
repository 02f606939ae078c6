// When the node snapshots its state machine (every `snapshotEvery` applied entries, keeping
// `snapshotKeep` entries below it for slightly lagging followers), and the (index, digest) history
// replicas are compared by.
import { asLogIndex } from '../protocol/ids.js';
import type { RaftNode } from '../raft/node.js';
import type { QueueStateMachine } from '../statemachine/index.js';
import type { DriverLogger, DurableLog } from './driver-types.js';

export interface SnapshotPolicyDeps {
  raft: RaftNode;
  sm: QueueStateMachine;
  durable: DurableLog;
  log: DriverLogger;
  snapshotEvery: number;
  snapshotKeep: number;
  /** A failed snapshot write is fatal. */
  fatal(err: unknown): void;
}

const DIGESTS_KEPT = 1000;

export class SnapshotPolicy {
  private lastSnapshotIndex: number;
  private snapshotting = false;
  private readonly digests: { index: number; digest: string }[] = [];

  constructor(
    private readonly d: SnapshotPolicyDeps,
    snapshotIndex: number,
  ) {
    this.lastSnapshotIndex = snapshotIndex;
  }

  /** A snapshot from the leader was installed at `index`. */
  installed(index: number): void {
    this.lastSnapshotIndex = index;
  }

  /** A snapshot at `applied` is due and none is being written. */
  isDue(applied: number): boolean {
    return !this.snapshotting && applied - this.lastSnapshotIndex >= this.d.snapshotEvery;
  }

  /** Takes a snapshot at `applied` if one is due and none is being written. */
  maybeSnapshot(applied: number): void {
    if (!this.isDue(applied)) return;
    const index = applied;
    // A leader's snapshot stepped in while this Ready was being persisted replaced the log: ours
    // would describe state the node is about to discard (and its term is no longer known).
    if (this.d.raft.termAt(index) === undefined) return;
    this.snapshotting = true;
    const data = concat([...this.d.sm.snapshot()]);
    const snap = this.d.raft.buildSnapshot(index, data);
    this.recordDigest(applied);
    this.d.durable
      .createSnapshot(snap, { compactTo: asLogIndex(Math.max(0, index - this.d.snapshotKeep)) })
      .then(() => {
        this.lastSnapshotIndex = index;
        this.d.log.info({ index, bytes: data.length }, 'snapshot taken');
      })
      .catch((err: unknown) => this.d.fatal(err))
      .finally(() => {
        this.snapshotting = false;
      });
  }

  /** Records the state machine's digest at `applied` (once per index, the newest DIGESTS_KEPT). */
  recordDigest(applied: number): void {
    const last = this.digests[this.digests.length - 1];
    if (last && last.index === applied) return;
    this.digests.push({ index: applied, digest: this.d.sm.digest() });
    if (this.digests.length > DIGESTS_KEPT) this.digests.splice(0, this.digests.length - DIGESTS_KEPT);
  }

  /** (index, digest) pairs at snapshots and every 100th index, ending at `applied`. */
  digestHistory(applied: number): { index: number; digest: string }[] {
    const out = this.digests.slice();
    const last = out[out.length - 1];
    if (!last || last.index !== applied) out.push({ index: applied, digest: this.d.sm.digest() });
    return out;
  }
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
