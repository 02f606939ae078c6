// Linearizable reads (ReadIndex): each read waits for Raft to confirm its read index, then for the
// state machine to apply up to it, and is answered from the state machine at that point.
import type { ReadAnswer, ReadQuery } from '../protocol/index.js';
import type { Ready } from '../raft/types.js';

interface PendingRead {
  query: ReadQuery;
  resolve(a: ReadAnswer): void;
  deadline: number;
  /** Set once Raft confirmed the read index. */
  index: number | null;
}

export class ReadTracker {
  private nextCtx = 1;
  private readonly reads = new Map<number, PendingRead>();

  size(): number {
    return this.reads.size;
  }

  /** Registers a read; returns its context for `raft.readIndex` and the answer to come. */
  add(query: ReadQuery, deadline: number): { ctx: number; answer: Promise<ReadAnswer> } {
    const ctx = this.nextCtx++;
    const answer = new Promise<ReadAnswer>((resolve) => {
      this.reads.set(ctx, { query, resolve, deadline, index: null });
    });
    return { ctx, answer };
  }

  /** Raft confirmed these read indexes. */
  onReadStates(states: Ready['readStates']): void {
    for (const rs of states) {
      const r = this.reads.get(rs.ctx);
      if (r) r.index = rs.index;
    }
  }

  /** Raft dropped these reads (no longer leader): each gets `answer()`. */
  onDropped(dropped: Ready['droppedReads'], answer: () => ReadAnswer): void {
    for (const dr of dropped) {
      const r = this.reads.get(dr.ctx);
      if (!r) continue;
      this.reads.delete(dr.ctx);
      r.resolve(answer());
    }
  }

  /** Answers every read whose index is applied. */
  serve(applied: number, read: (q: ReadQuery) => ReadAnswer): void {
    for (const [ctx, r] of this.reads) {
      if (r.index !== null && applied >= r.index) {
        this.reads.delete(ctx);
        r.resolve(read(r.query));
      }
    }
  }

  /** Answers every read whose deadline passed with `answer()`. */
  expire(now: number, answer: () => ReadAnswer): void {
    for (const [ctx, r] of this.reads) {
      if (r.deadline <= now) {
        this.reads.delete(ctx);
        r.resolve(answer());
      }
    }
  }

  /** Answers every pending read with `answer()`. */
  failAll(answer: () => ReadAnswer): void {
    for (const r of this.reads.values()) r.resolve(answer());
    this.reads.clear();
  }
}
