// Admin commands on tasks and queues (docs/design.md §3): cancel / promote / update a pending task
// (cancel of a running one: cancel.ts);
// purge (cancel every non-terminal task) and delete a queue, a capped amount per entry (jobs.ts).

import type { Answer, CommandOf } from '../protocol/index.js';
import { parseId } from '../protocol/index.js';
import { mut } from './digest.js';
import { startDelete, startPurge } from './jobs.js';
import { keyOf, settleKey } from './limits.js';
import { finish, place, toWaiting } from './placement.js';
import type { Queue } from './records.js';
import {
  S_CANCELLED,
  S_DELAYED,
  S_LEASED,
  S_WAITING,
  S_WAITING_CHILDREN,
  STATE_NAMES,
  T_CANCELLED,
  Task,
} from './records.js';
import { requestCancel } from './cancel.js';
import type { MachineState } from './state.js';
import { err, ev, ok } from './state.js';
import { note } from './story.js';

function taskOr404(st: MachineState, idStr: string): Task | Answer {
  const t = st.tasks.get(parseId(idStr) as number);
  return t ?? err('NOT_FOUND', `no task ${idStr}`);
}

function notPending(t: Task): Answer {
  if (t.state === S_WAITING_CHILDREN) {
    return err('FAILED_PRECONDITION', 'task is waiting for its dependencies', { reason: 'task_waiting_children' });
  }
  return t.state === S_LEASED
    ? err('FAILED_PRECONDITION', 'task is leased', { reason: 'task_leased' })
    : err('FAILED_PRECONDITION', `task is ${STATE_NAMES[t.state]}`, { reason: 'task_terminal' });
}

/** `running`: a leased task is marked cancel-requested (cancel.ts); without it, refused as leased. */
export function cancel(st: MachineState, idStr: string, running = false): Answer {
  const t = taskOr404(st, idStr);
  if (!(t instanceof Task)) return t;
  if (t.state === S_LEASED && running) return requestCancel(st, t);
  if (t.state !== S_WAITING && t.state !== S_DELAYED && t.state !== S_WAITING_CHILDREN) return notPending(t);
  finish(st, t, S_CANCELLED, 'cancelled', T_CANCELLED, 'cancelled');
  return ok({ state: 'cancelled' });
}

export function promote(st: MachineState, idStr: string): Answer {
  const t = taskOr404(st, idStr);
  if (!(t instanceof Task)) return t;
  if (t.state !== S_DELAYED) return err('FAILED_PRECONDITION', 'task is not delayed', { reason: 'not_delayed' });
  mut(st, t, () => {
    toWaiting(st, t);
    note(st, t, 'promoted');
  });
  ev(st, t, 'ready');
  return ok({ state: 'waiting' });
}

export function update(st: MachineState, cmd: CommandOf<'update'>): Answer {
  const t = taskOr404(st, cmd.id);
  if (!(t instanceof Task)) return t;
  if (t.state !== S_WAITING && t.state !== S_DELAYED) return notPending(t);
  mut(st, t, () => {
    note(st, t, 'updated', updateDetail(t, cmd));
    if (cmd.payload !== undefined) {
      st.payloads.replace(t, cmd.payload);
      t.ph = st.h.reset().bytes(cmd.payload).a;
    }
    if (cmd.priority !== undefined && cmd.priority !== t.priority) {
      t.priority = cmd.priority;
      if (t.state === S_WAITING && t.pos >= 0) keyOf(st, t).ready.update(t);
    }
    if (cmd.delayMs !== undefined || cmd.runAt !== undefined) place(st, t, cmd.delayMs, cmd.runAt);
  });
  if (t.state === S_WAITING) settleKey(st, keyOf(st, t));
  ev(st, t, 'updated');
  return ok({ state: STATE_NAMES[t.state] });
}

/** What an update changes, for the task's story (before it is applied). */
function updateDetail(t: Task, cmd: CommandOf<'update'>): string {
  const parts: string[] = [];
  if (cmd.payload !== undefined) parts.push(`payload (${cmd.payload.byteLength} bytes)`);
  if (cmd.priority !== undefined && cmd.priority !== t.priority) parts.push(`priority ${t.priority} → ${cmd.priority}`);
  if (cmd.delayMs !== undefined) parts.push(cmd.delayMs > 0 ? `delay ${cmd.delayMs} ms` : 'delay none');
  else if (cmd.runAt !== undefined) parts.push(`runAt ${cmd.runAt}`);
  return parts.length > 0 ? parts.join(', ') : 'nothing changed';
}

function deleting(q: Queue): Answer {
  return err('FAILED_PRECONDITION', `queue ${q.name} is being deleted`, { reason: 'queue_deleting' });
}

export function purgeQueue(st: MachineState, name: string): Answer {
  const q = st.queues.get(name);
  if (q === undefined) return err('NOT_FOUND', `no queue ${name}`);
  if (q.deleting) return deleting(q);
  return ok({ purged: startPurge(st, q) });
}

export function deleteQueue(st: MachineState, name: string, force: boolean): Answer {
  const q = st.queues.get(name);
  if (q === undefined) return err('NOT_FOUND', `no queue ${name}`);
  if (q.deleting) return deleting(q);
  if (q.nonTerminal() > 0 && !force) {
    return err('FAILED_PRECONDITION', `queue ${name} holds non-terminal tasks`, { reason: 'queue_not_empty' });
  }
  return ok({ cancelled: startDelete(st, q) });
}
