// Dead letters (docs/design.md §3): a task that becomes `dead` is copied to its queue's dead-letter
// queue (same entry); redrive sends dead letters (or uncopied dead tasks) back as new tasks. A redrive
// without ids walks at most adminTasksPerEntryMax tasks in its entry; the rest of the walk is a
// redrive job (jobs.ts) that continues at the following entries.

import type { Answer, CommandOf, TaskSpec } from '../protocol/index.js';
import { formatId, parseId } from '../protocol/index.js';
import { mut, touchJob } from './digest.js';
import { createTask } from './enqueue.js';
import { startRedrive } from './jobs.js';
import { afterTerminal, finish } from './placement.js';
import { newQueue, tooManyQueues } from './queues.js';
import type { AdminJob, Queue, Task } from './records.js';
import { S_CANCELLED, S_DEAD, S_DELAYED, S_WAITING, T_CANCELLED, T_DEAD } from './records.js';
import type { MachineState } from './state.js';
import { err, ok } from './state.js';
import { note } from './story.js';
import { payloadBytes } from './payloads.js';

/** After a task became dead (outside its mut): totals, group, event, counter, dead-letter copy. */
export function afterDead(st: MachineState, t: Task): void {
  afterTerminal(st, t, T_DEAD, 'dead');
  st.counters.deadLettered++;
  deadLetter(st, t);
}

function deadLetter(st: MachineState, t: Task): void {
  const target = t.q.settings.deadLetterQueue;
  if (target === null || target === t.q.name) return;
  let q = st.queues.get(target);
  if (q?.deleting === true) return;
  if (q === undefined) {
    if (st.queues.size >= st.limits.queuesMax) return;
    q = newQueue(st, target, {});
  }
  const spec: TaskSpec = { payload: payloadBytes(t), priority: t.priority };
  if (t.headers !== undefined) spec.headers = t.headers;
  // Copies without answers: the source's answer objects may still gain a deadLetterId.
  const history = (t.history ?? []).map((a) => ({ ...a, answer: null }));
  const d = createTask(st, q, spec, (n) => {
    n.extra().deadLetterOf = { id: t.id, queue: t.q.name, reason: t.reason ?? 'dead', history };
  });
  mut(st, t, () => {
    t.extra().deadLetterId = d.id;
    note(st, t, 'dead_lettered', `copied to ${q.name} as ${formatId(d.id)}`);
  });
}

/** A dead task not already copied or redriven, or a waiting / delayed dead letter. */
export function redrivable(t: Task): boolean {
  const x = t.x;
  if (t.state === S_DEAD) return x?.deadLetterId === undefined && x?.redrivenTo === undefined;
  return (t.state === S_WAITING || t.state === S_DELAYED) && x?.deadLetterOf !== undefined;
}

export function redrive(st: MachineState, cmd: CommandOf<'redrive'>): Answer {
  const q = st.queues.get(cmd.queue);
  if (q === undefined) return err('NOT_FOUND', `no queue ${cmd.queue}`);
  const max = cmd.max ?? st.limits.redriveMax;
  const upTo = st.nextTaskId;
  const picked: Task[] = [];
  // Where a capped walk stopped (null: it saw every task it had to).
  let rest: Task | null = null;
  if (cmd.ids !== undefined) {
    for (const s of cmd.ids) {
      const t = st.tasks.get(parseId(s) as number);
      if (t !== undefined && t.q === q && redrivable(t) && !picked.includes(t)) picked.push(t);
    }
  } else {
    rest = walk(st, q, max, picked);
  }
  const targets = picked.map((t) => cmd.toQueue ?? t.x?.deadLetterOf?.queue ?? q.name);
  const gone = [q.name, ...targets].find((n) => st.queues.get(n)?.deleting === true);
  if (gone !== undefined) {
    return err('FAILED_PRECONDITION', `queue ${gone} is being deleted`, { reason: 'queue_deleting' });
  }
  const missing = new Set(targets.filter((n) => !st.queues.has(n)));
  if (st.queues.size + missing.size > st.limits.queuesMax) return tooManyQueues();
  const out: { from: string; id: string }[] = [];
  picked.forEach((t, i) => out.push({ from: formatId(t.id), id: formatId(redriveOne(st, t, targets[i] as string)) }));
  // `continuing` only when true: the answers (and digests) of redrives that end in their entry stay as they were.
  if (rest !== null && picked.length < max) {
    startRedrive(st, q, rest, upTo, { left: max - picked.length, toQueue: cmd.toQueue ?? null });
    return ok({ items: out, continuing: true });
  }
  return ok({ items: out });
}

/** Picks up to `max` redrivable tasks from the queue's start, visiting at most adminTasksPerEntryMax. */
function walk(st: MachineState, q: Queue, max: number, picked: Task[]): Task | null {
  let budget = st.limits.adminTasksPerEntryMax;
  let t = q.first;
  for (; t !== null && picked.length < max; t = t.qnext) {
    if (budget-- <= 0) return t;
    if (redrivable(t)) picked.push(t);
  }
  return null;
}

/**
 * One task of a redrive job (jobs.ts runs it): moved like the command would, unless its target
 * cannot take it now (being deleted, or a new queue past queuesMax): then it is left as it is,
 * still redrivable by a later redrive.
 */
export function redriveVisit(st: MachineState, j: AdminJob, t: Task): void {
  const rest = j.redrive;
  if (rest === null || !redrivable(t)) return;
  const target = rest.toQueue ?? t.x?.deadLetterOf?.queue ?? j.q.name;
  const tq = st.queues.get(target);
  if (tq?.deleting === true || (tq === undefined && st.queues.size >= st.limits.queuesMax)) return;
  redriveOne(st, t, target);
  touchJob(st, j, () => rest.left--);
}

function redriveOne(st: MachineState, t: Task, targetName: string): number {
  const target = st.queues.get(targetName) ?? newQueue(st, targetName, {});
  const x = t.x;
  const spec: TaskSpec = { payload: payloadBytes(t), priority: t.priority };
  if (t.headers !== undefined) spec.headers = t.headers;
  if (x?.group !== undefined) spec.group = x.group;
  const n = createTask(st, target, spec, (nt) => (nt.extra().redrivenFrom = t.id));
  const detail = `to ${target.name} as ${formatId(n.id)}`;
  if (t.state === S_DEAD) {
    mut(st, t, () => {
      t.extra().redrivenTo = n.id;
      note(st, t, 'redriven', detail);
    });
  } else {
    mut(st, t, () => note(st, t, 'redriven', detail));
    finish(st, t, S_CANCELLED, 'redriven', T_CANCELLED, 'cancelled');
  }
  return n.id;
}
