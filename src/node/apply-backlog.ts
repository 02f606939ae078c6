// Committed entries waiting to be applied while a snapshot's chunks are taken across event-loop
// turns (snapshot-policy.ts): the chunks must all describe the state at one index, so applying
// pauses, and everything else (heartbeats, votes, writes) goes on.
import { assert } from '../protocol/assert.js';
import type { Entry } from '../raft/types.js';

export class ApplyBacklog {
  private readonly entries: Entry[] = [];

  get length(): number {
    return this.entries.length;
  }

  /** Applies `committed` in order after what already waits; stops while `waits()` holds. */
  add(committed: Entry[], waits: () => boolean, apply: (e: Entry) => void): void {
    if (this.entries.length === 0 && !waits()) {
      for (const e of committed) apply(e);
      return;
    }
    for (const e of committed) this.entries.push(e);
    this.drain(waits, apply);
  }

  /** Applies waiting entries in order until none is left or `waits()` holds. */
  drain(waits: () => boolean, apply: (e: Entry) => void): void {
    let i = 0;
    while (i < this.entries.length && !waits()) apply(this.entries[i++] as Entry);
    this.entries.splice(0, i);
  }

  /** A leader's snapshot at `index` replaces the state: what waits is below it (it is beyond our commit). */
  dropForSnapshot(index: number): void {
    assert(
      this.entries.every((e) => e.index <= index),
      `apply backlog: entries beyond the installed snapshot ${index}`,
    );
    this.entries.length = 0;
  }
}
