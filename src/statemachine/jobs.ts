// Admin work that grows with a queue's length (architecture issue §5): purge, delete, the
// re-parking of pause / resume and a redrive without ids visit at most adminTasksPerEntryMax tasks
// per entry, and the re-placing of a queue's limit keys after a settings change (configure, pause,
// resume, a shared limit's new spec) at most that many keys. The command
// does what fits at once; the rest is an AdminJob in state (cursor included, so in the digest and
// the snapshot) that continues at the start of the following entries, before their commands.
// nextDue() reports "now" while a job is pending, so the leader proposes advanceTime to drive it.

import { assert } from '../protocol/assert.js';
import { hashKey, hashQueue, mut, mutQueue, touchJob } from './digest.js';
import { dropLimiters, settleKey, unparkQueueLimiter } from './limits.js';
import { afterTerminal, endAttempt, removeTask, toTerminal } from './placement.js';
import type { JobKind, Queue, RedriveRest, Task } from './records.js';
import { AdminJob, S_CANCELLED, S_DELAYED, S_LEASED, T_CANCELLED, isTerminal } from './records.js';
import type { MachineState } from './state.js';

/** What one call of runJob did: tasks it cancelled, and whether the job is finished. */
interface Progress {
  cancelled: number;
  done: boolean;
}

/** Visits one task for a redrive job (deadletters.ts; passed in: this module is below it). */
export type RedriveVisit = (st: MachineState, j: AdminJob, t: Task) => void;

/** A delete visits every task (none can be added to a deleting queue). */
const DELETE_ALL = Number.MAX_SAFE_INTEGER;

function newJob(st: MachineState, kind: JobKind, q: Queue, upTo = st.nextTaskId): AdminJob {
  const j = new AdminJob(kind, q, q.first, upTo);
  touchJob(st, j, () => undefined);
  st.jobs.push(j);
  return j;
}

function dropJob(st: MachineState, j: AdminJob): void {
  const i = st.jobs.indexOf(j);
  assert(i >= 0, 'a finished job is in the job list');
  st.jobs.splice(i, 1);
  st.sum.subPair(j.a, j.b);
}

function findJob(st: MachineState, q: Queue, kind: JobKind): AdminJob | undefined {
  return st.jobs.find((j) => j.q === q && j.kind === kind);
}

/** Cancel every non-terminal task present now (ids below nextTaskId). Returns those cancelled in this entry. */
export function startPurge(st: MachineState, q: Queue): number {
  const j = findJob(st, q, 'purge') ?? newJob(st, 'purge', q);
  // A purge during a purge extends it: the tasks enqueued since sit after the cursor.
  if (j.upTo !== st.nextTaskId) touchJob(st, j, () => (j.upTo = st.nextTaskId));
  return runJob(st, j, st.limits.adminTasksPerEntryMax).progress.cancelled;
}

/** Cancel every task, remove them, the queue's keys and the queue. Returns those cancelled in this entry. */
export function startDelete(st: MachineState, q: Queue): number {
  for (const other of st.jobs.filter((j) => j.q === q && (j.kind === 'purge' || j.kind === 'redrive'))) {
    dropJob(st, other);
  }
  const j = newJob(st, 'delete-cancel', q, DELETE_ALL);
  const { progress } = runJob(st, j, st.limits.adminTasksPerEntryMax);
  // The queue refuses commands until the delete is finished (its name stays taken).
  if (!progress.done) mutQueue(st, q, () => (q.deleting = true));
  return progress.cancelled;
}

/** Make heap membership of the queue's delayed tasks follow its `paused` setting. */
export function startRepark(st: MachineState, q: Queue): void {
  const j = findJob(st, q, 'repark');
  // A toggle during a re-park restarts it from the first task; later tasks follow the new setting.
  if (j !== undefined) {
    touchJob(st, j, () => {
      j.next = q.first;
      j.upTo = st.nextTaskId;
    });
  }
  q.reparking = true;
  runJob(st, j ?? newJob(st, 'repark', q), st.limits.adminTasksPerEntryMax);
}

/**
 * The rest of a redrive without ids, from `next` on (tasks below `upTo`): a new job that replaces
 * the queue's earlier redrive job, if any (the tasks that one moved are no longer redrivable).
 */
export function startRedrive(st: MachineState, q: Queue, next: Task, upTo: number, rest: RedriveRest): void {
  for (const other of st.jobs.filter((j) => j.q === q && j.kind === 'redrive')) dropJob(st, other);
  const j = new AdminJob('redrive', q, next, upTo);
  touchJob(st, j, () => (j.redrive = { ...rest }));
  st.jobs.push(j);
}

/**
 * Settings of `q` changed: re-place its limit keys under them, from its first key, within `budget`
 * keys now (returns what is left of it); the rest at the following entries. A change while the
 * walk runs restarts it. Until it ends, a key not yet visited sits where the old settings put it.
 */
export function startResettle(st: MachineState, q: Queue, budget = st.limits.adminTasksPerEntryMax): number {
  unparkQueueLimiter(st, q);
  let j = findJob(st, q, 'resettle');
  if (j === undefined) {
    j = new AdminJob('resettle', q, null, 0);
    st.jobs.push(j);
  }
  const job = j;
  touchJob(st, job, () => job.restartKeys());
  return runJob(st, job, budget).left;
}

/** Visit up to `budget` keys of a resettle job; at its end, finish it. */
function runResettle(st: MachineState, j: AdminJob, budget: number): { progress: Progress; left: number } {
  touchJob(st, j, () => {
    while (budget > 0 && j.key !== null) {
      budget--;
      const k = j.key;
      // The cursor moves first: settling may retire k (the walk goes on from its successor).
      j.advanceKey();
      settleKey(st, k);
    }
  });
  if (j.key !== null) return { progress: { cancelled: 0, done: false }, left: budget };
  dropJob(st, j);
  return { progress: { cancelled: 0, done: true }, left: budget };
}

/** At the start of an entry: continue the pending jobs, oldest first, within one budget. */
export function runJobs(st: MachineState, redriveVisit: RedriveVisit): void {
  let budget = st.limits.adminTasksPerEntryMax;
  while (budget > 0 && st.jobs.length > 0) budget = runJob(st, st.jobs[0] as AdminJob, budget, redriveVisit).left;
}

/** A redrive job is also finished once it moved as many tasks as it was asked to. */
function exhausted(j: AdminJob): boolean {
  return j.redrive !== null && j.redrive.left <= 0;
}

/** Visit up to `budget` tasks of the job; at its end, finish it (and chain delete's next phase). */
function runJob(
  st: MachineState,
  j: AdminJob,
  budget: number,
  redriveVisit?: RedriveVisit,
): { progress: Progress; left: number } {
  if (j.kind === 'resettle') return runResettle(st, j, budget);
  const progress: Progress = { cancelled: 0, done: false };
  let t = j.next;
  while (budget > 0 && t !== null && t.id < j.upTo && !exhausted(j)) {
    budget--;
    const next: Task | null = t.qnext;
    if (j.kind === 'redrive') {
      assert(redriveVisit !== undefined, 'a redrive job runs with its visitor');
      redriveVisit(st, j, t);
    } else visit(st, j, t, progress);
    t = next;
  }
  if (t !== j.next) touchJob(st, j, () => (j.next = t));
  if (t !== null && t.id < j.upTo && !exhausted(j)) return { progress, left: budget };
  if (j.kind === 'delete-remove' && budget > 0) budget = dropKeys(st, j.q, budget);
  if (j.kind === 'delete-remove' && j.q.keys.size > 0) return { progress, left: budget };
  progress.done = true;
  dropJob(st, j);
  if (j.kind === 'repark') j.q.reparking = false;
  if (j.kind === 'delete-cancel') {
    const r = runJob(st, newJob(st, 'delete-remove', j.q, DELETE_ALL), budget);
    return { progress: { cancelled: progress.cancelled + r.progress.cancelled, done: r.progress.done }, left: r.left };
  }
  if (j.kind === 'delete-remove') dropQueue(st, j.q);
  return { progress, left: budget };
}

function visit(st: MachineState, j: AdminJob, t: Task, progress: Progress): void {
  switch (j.kind) {
    case 'purge':
    case 'delete-cancel':
      if (isTerminal(t.state)) return;
      cancelOne(st, t, j.kind === 'purge' ? 'purged' : 'deleted');
      progress.cancelled++;
      return;
    case 'delete-remove':
      assert(isTerminal(t.state), 'a deleted queue holds only terminal tasks');
      removeTask(st, t, false);
      return;
    case 'repark': {
      if (t.state !== S_DELAYED) return;
      const heap = t.x?.wallDue === true ? st.wallDelay : st.monoDelay;
      if (t.q.settings.paused && t.pos >= 0) heap.remove(t);
      else if (!t.q.settings.paused && t.pos < 0) heap.push(t);
      return;
    }
    case 'redrive':
      assert(false, 'a redrive job is visited by its own visitor');
      return;
    case 'resettle':
      assert(false, 'a resettle job visits keys, not tasks');
  }
}

function cancelOne(st: MachineState, t: Task, reason: string): void {
  mut(st, t, () => {
    if (t.state === S_LEASED) {
      endAttempt(st, t, 'cancelled', null, null);
      t.worker = undefined;
    }
    toTerminal(st, t, S_CANCELLED, reason);
  });
  afterTerminal(st, t, T_CANCELLED, 'cancelled');
}

function dropKeys(st: MachineState, q: Queue, budget: number): number {
  for (const [key, k] of q.keys) {
    if (budget <= 0) break;
    budget--;
    st.sum.sub(hashKey(st, q.name, key, k.id, k.expiresAt));
    q.keys.delete(key);
    st.keyCount--;
  }
  return budget;
}

function dropQueue(st: MachineState, q: Queue): void {
  assert(q.first === null && q.keys.size === 0, 'a queue is dropped empty');
  // A dirty queue is already out of the digest until the end of this entry.
  if (q.dirty) q.dirty = false;
  else st.sum.sub(hashQueue(st, q));
  for (const other of st.jobs.filter((j) => j.q === q)) dropJob(st, other);
  dropLimiters(st, q);
  st.queues.delete(q.name);
}
