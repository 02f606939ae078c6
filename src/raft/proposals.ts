// The leader's proposals of its current term that are appended but not committed yet: they bound the
// uncommitted bytes (maxUncommittedBytes) and fail as 'stepped-down' if the term ends first.

import { assert } from '../protocol/assert.js';

interface PendingProposal {
  id: number;
  index: number;
  term: number;
  bytes: number;
}

export class ProposalQueue {
  /** Bytes of proposals accepted in this term and not committed yet. */
  uncommittedBytes = 0;
  /** In index order; entries before `head` are committed (compacted away in batches). */
  private pending: PendingProposal[] = [];
  private head = 0;

  add(id: number, index: number, term: number, bytes: number): void {
    this.pending.push({ id, index, term, bytes });
  }

  /** Entries up to `index` committed in `term`: their proposals no longer count as uncommitted. */
  commitTo(index: number, term: number): void {
    const pending = this.pending;
    while (this.head < pending.length) {
      const p = pending[this.head] as PendingProposal;
      if (p.index > index) break;
      assert(p.term === term, `raft invariant: pending proposal ${p.id} of term ${p.term} outlived its term`);
      this.uncommittedBytes -= p.bytes;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > pending.length) {
      this.pending = pending.slice(this.head);
      this.head = 0;
    }
  }

  /** The term ended: the ids of every proposal still uncommitted (to fail), and a fresh queue. */
  takeAll(): number[] {
    const ids: number[] = [];
    for (let k = this.head; k < this.pending.length; k++) ids.push((this.pending[k] as PendingProposal).id);
    this.reset();
    return ids;
  }

  reset(): void {
    this.pending = [];
    this.head = 0;
    this.uncommittedBytes = 0;
  }
}
