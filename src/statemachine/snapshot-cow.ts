// Copy-on-write for a snapshot's task chunks (snapshot.ts): the chunks are taken across event-loop
// turns while entries go on being applied, so a task that is about to change (mut) or leave (removeTask)
// before its chunk was encoded first saves its row as it was at the snapshot's index. Every other
// part of the snapshot is encoded when it starts.
import { assert } from '../protocol/assert.js';
import type { Task } from './records.js';

export class SnapshotCow {
  /** The highest task id whose row is already encoded (the chunks go in id order). */
  private cursor = 0;
  private readonly saved = new Map<number, unknown[]>();

  /**
   * @param upTo tasks with this id or above were created after the snapshot's index
   * @param frozenRow a task's row as a value nothing applied later can change (a deep copy)
   */
  constructor(
    private readonly upTo: number,
    private readonly frozenRow: (t: Task) => unknown[],
  ) {}

  /** `t` is about to change or leave the state: keep its row if its chunk is still to come. */
  before(t: Task): void {
    if (t.id <= this.cursor || t.id >= this.upTo || this.saved.has(t.id)) return;
    this.saved.set(t.id, this.frozenRow(t));
  }

  /** `t`'s row as of the snapshot's index, as its chunk is encoded (ids ascending). */
  rowOf(t: Task, live: (t: Task) => unknown[]): unknown[] {
    assert(t.id > this.cursor && t.id < this.upTo, 'snapshot rows go in id order, below the snapshot');
    this.cursor = t.id;
    const kept = this.saved.get(t.id);
    if (kept === undefined) return live(t);
    this.saved.delete(t.id);
    return kept;
  }

  /** Rows saved and not yet encoded (for tests and the end-of-snapshot check). */
  get pending(): number {
    return this.saved.size;
  }
}
