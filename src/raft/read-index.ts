// ReadIndex (Raft thesis §6.4): a leader serves a linearizable read at its commit index once a
// heartbeat round shows a majority still follows it. Pending reads live only within one leader term.

import { asLogIndex } from '../protocol/ids.js';
import type { ReadState } from './types.js';

/** A ReadIndex request waiting for the heartbeat round numbered `seq` to be acknowledged by a quorum. */
interface PendingRead {
  ctx: number;
  index: number;
  seq: number;
}

export class ReadIndexQueue {
  /** The number of the latest heartbeat round that carries reads. */
  seq = 0;
  private pending: PendingRead[] = [];
  /** Reads that arrived before the first commit of the term (the commit index is not known yet). */
  private awaitingCommit: number[] = [];

  hasPending(): boolean {
    return this.pending.length > 0;
  }

  hasAwaitingCommit(): boolean {
    return this.awaitingCommit.length > 0;
  }

  /** Queues a read at `index`; returns the heartbeat round that must confirm it. */
  enqueue(ctx: number, index: number): number {
    this.seq++;
    this.pending.push({ ctx, index, seq: this.seq });
    return this.seq;
  }

  awaitCommit(ctx: number): void {
    this.awaitingCommit.push(ctx);
  }

  /** Hands out the reads that waited for the term's first commit (to be asked again). */
  takeAwaitingCommit(): number[] {
    const waiting = this.awaitingCommit;
    this.awaitingCommit = [];
    return waiting;
  }

  /** A quorum acknowledged heartbeat rounds up to `acked`: the reads they confirm. */
  confirm(acked: number): ReadState[] {
    let k = 0;
    const out: ReadState[] = [];
    while (k < this.pending.length && (this.pending[k] as PendingRead).seq <= acked) {
      const r = this.pending[k] as PendingRead;
      out.push({ ctx: r.ctx, index: asLogIndex(r.index) });
      k++;
    }
    if (k > 0) this.pending = this.pending.slice(k);
    return out;
  }

  /** Leadership ended: every read still pending (confirmation-waiting first), to be failed. */
  takeAll(): number[] {
    const ctxs = [...this.pending.map((r) => r.ctx), ...this.awaitingCommit];
    this.pending = [];
    this.awaitingCommit = [];
    return ctxs;
  }
}
