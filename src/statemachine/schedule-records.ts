// Schedule records (schedules.ts works on them). Replicated: everything but `pos`, `due`, `ha`/`hb`
// (derived: heap position, next instant of interest, digest contribution).

import type { ScheduleSpec } from '../protocol/index.js';
import { IndexedHeap } from './heap.js';

/** The upsert's fields as kept: defaults filled in (queue and id are the record's key). */
export type StoredSpec = ScheduleSpec & {
  catchUp: NonNullable<ScheduleSpec['catchUp']>;
  catchUpMax: number;
  graceMs: number;
  jitterMs: number;
  paused: boolean;
};

export class Schedule {
  /** Position in ScheduleBook.due (IndexedHeap). */
  pos = -1;
  /** Next wall instant at which applying an entry does something for this schedule; Infinity: none. */
  due = Infinity;
  ha = 0;
  hb = 0;
  /**
   * The index of the entry that created the schedule or last changed its timing: slot instants
   * computed for another generation (an older timing, or a deleted namesake) are refused.
   */
  gen = 0;
  /** Every slot instant ≤ through is recorded in `slots` or already handled; the leader computes after it. */
  through: number;
  /** Recorded slot instants not yet handled, ascending (wall ms). */
  slots: number[] = [];
  /** No slot exists beyond `slots` (endAt, limit, or the expression ends): no more refills. */
  done = false;
  runs = 0;
  skipped = 0;
  failed = 0;
  /** Manual runs (triggerSchedule) so far: their idempotency keys. */
  manualRuns = 0;
  /** catchUp latest: the latest missed slot, fired once the missed run of slots is over. */
  pendingLatest: number | null = null;
  /** Slots whose fire time is at or before this came due while paused (missed). */
  resumedAt = 0;
  lastSlot: number | null = null;
  lastTaskId: number | null = null;
  lastError: string | null = null;

  constructor(
    readonly queue: string,
    readonly id: string,
    public spec: StoredSpec,
    /** Wall stamp of the upsert that (re)set the timing: the anchor of everyMs without startAt. */
    public anchor: number,
  ) {
    this.through = spec.startAt !== undefined ? spec.startAt - 1 : anchor;
  }

  get key(): string {
    return scheduleKey(this.queue, this.id);
  }
}

export function scheduleKey(queue: string, id: string): string {
  return `${queue}\n${id}`;
}

function dueLess(a: Schedule, b: Schedule): boolean {
  if (a.due !== b.due) return a.due < b.due;
  if (a.queue !== b.queue) return a.queue < b.queue;
  return a.id < b.id;
}

export class ScheduleBook {
  readonly map = new Map<string, Schedule>();
  /** Schedules with a finite `due`, by (due, queue, id). */
  due = new IndexedHeap<Schedule>(dueLess);

  clear(): void {
    this.map.clear();
    this.due = new IndexedHeap<Schedule>(dueLess);
  }
}
