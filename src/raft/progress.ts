// The leader's view of one follower (etcd-io/raft `tracker.Progress`, in our words): how far it has
// matched, what to send next, and the flow-control state that bounds what is in flight.

import { assert } from '../protocol/assert.js';
import type { NodeId, Snapshot, StorageId } from './types.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A bounded FIFO of the last index of each in-flight Append (pipelining window). */
export class Inflights {
  private buf: number[];
  private start = 0;
  count = 0;

  constructor(readonly size: number) {
    this.buf = new Array<number>(size).fill(0);
  }

  full(): boolean {
    return this.count === this.size;
  }

  add(lastIndex: number): void {
    assert(!this.full(), 'inflights: add to a full window');
    this.buf[(this.start + this.count) % this.size] = lastIndex;
    this.count++;
  }

  /** Frees every in-flight Append whose last index is ≤ `index` (they are acknowledged). */
  freeLE(index: number): void {
    while (this.count > 0 && (this.buf[this.start] ?? 0) <= index) {
      this.start = (this.start + 1) % this.size;
      this.count--;
    }
  }

  freeFirst(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.size;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

/** Snapshot transfer to one follower: sent chunk by chunk, each acknowledged before the next. */
export interface SnapshotTransfer {
  snapshot: Snapshot;
  /** Bytes acknowledged by the follower. */
  acked: number;
  /** Ticks since the last chunk went out (resent when it reaches the heartbeat interval). */
  idleTicks: number;
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Probe state: one Append is out; wait for its answer or a heartbeat answer before sending again. */
  probeSent = false;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Highest ReadIndex heartbeat context this peer has answered in the current term. */
  ackedContext = 0;
  /** Highest commit index this follower was told (an Append's or heartbeat's commit, capped as it applies it). */
  commitSent = 0;
  snapshot: SnapshotTransfer | null = null;
  readonly inflights: Inflights;

  constructor(
    readonly id: NodeId,
    public storageId: StorageId,
    next: number,
    maxInflight: number,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it; otherwise right after what is known to match.
    const snapIndex = this.snapshot?.snapshot.meta.index ?? 0;
    this.state = 'probe';
    this.next = Math.max(this.match + 1, snapIndex + 1);
    this.snapshot = null;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.snapshot = null;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.state = 'snapshot';
    this.snapshot = { snapshot, acked: 0, idleTicks: 0 };
    this.probeSent = false;
    this.inflights.reset();
  }

  /** An acknowledgement up to `index`; returns whether it moved `match`. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** A rejection of the Append after `rejected` moves `next` back (fast back-off); stale ones are ignored. */
  maybeDecrTo(rejected: number, probe: number): boolean {
    if (this.state === 'snapshot') return false;
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, probe + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether sending another Append now would exceed the flow-control window. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
