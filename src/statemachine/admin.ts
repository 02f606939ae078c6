// Admin commands on tasks and queues (DESIGN.md §3): cancel / promote / update a pending task;
// purge (cancel every non-terminal task) and delete a queue.

import type { Answer, CommandOf } from '../protocol/index.js';
import { parseId } from '../protocol/index.js';
import { hashKey, hashQueue, mut } from './digest.js';
import { afterTerminal, endAttempt, finish, place, removeTask, toTerminal, toWaiting } from './placement.js';
import type { Queue } from './records.js';
import { S_CANCELLED, S_DELAYED, S_LEASED, S_WAITING, STATE_NAMES, T_CANCELLED, Task, isTerminal } from './records.js';
import type { MachineState } from './state.js';
import { bytesToLatin1, err, ev, ok } from './state.js';

function taskOr404(st: MachineState, idStr: string): Task | Answer {
  const t = st.tasks.get(parseId(idStr) as number);
  return t ?? err('NOT_FOUND', `no task ${idStr}`);
}

function notPending(t: Task): Answer {
  return t.state === S_LEASED
    ? err('FAILED_PRECONDITION', 'task is leased', { reason: 'task_leased' })
    : err('FAILED_PRECONDITION', `task is ${STATE_NAMES[t.state]}`, { reason: 'task_terminal' });
}

export function cancel(st: MachineState, idStr: string): Answer {
  const t = taskOr404(st, idStr);
  if (!(t instanceof Task)) return t;
  if (t.state !== S_WAITING && t.state !== S_DELAYED) return notPending(t);
  finish(st, t, S_CANCELLED, 'cancelled', T_CANCELLED, 'cancelled');
  return ok({ state: 'cancelled' });
}

export function promote(st: MachineState, idStr: string): Answer {
  const t = taskOr404(st, idStr);
  if (!(t instanceof Task)) return t;
  if (t.state !== S_DELAYED) return err('FAILED_PRECONDITION', 'task is not delayed', { reason: 'not_delayed' });
  mut(st, t, () => toWaiting(st, t));
  ev(st, t, 'ready');
  return ok({ state: 'waiting' });
}

export function update(st: MachineState, cmd: CommandOf<'update'>): Answer {
  const t = taskOr404(st, cmd.id);
  if (!(t instanceof Task)) return t;
  if (t.state !== S_WAITING && t.state !== S_DELAYED) return notPending(t);
  mut(st, t, () => {
    if (cmd.payload !== undefined) {
      t.payload = bytesToLatin1(cmd.payload);
      t.ph = st.h.reset().bytes(cmd.payload).a;
    }
    if (cmd.priority !== undefined && cmd.priority !== t.priority) {
      t.priority = cmd.priority;
      if (t.state === S_WAITING && t.pos >= 0) t.q.ready.update(t);
    }
    if (cmd.delayMs !== undefined || cmd.runAt !== undefined) place(st, t, cmd.delayMs, cmd.runAt);
  });
  ev(st, t, 'updated');
  return ok({ state: STATE_NAMES[t.state] });
}

function cancelAll(st: MachineState, q: Queue, reason: string): number {
  let n = 0;
  for (let t = q.first; t !== null; t = t.qnext) {
    if (isTerminal(t.state)) continue;
    mut(st, t, () => {
      if (t.state === S_LEASED) {
        endAttempt(st, t, 'cancelled', null, null);
        t.worker = undefined;
      }
      toTerminal(st, t, S_CANCELLED, reason);
    });
    afterTerminal(st, t, T_CANCELLED, 'cancelled');
    n++;
  }
  return n;
}

export function purgeQueue(st: MachineState, name: string): Answer {
  const q = st.queues.get(name);
  if (q === undefined) return err('NOT_FOUND', `no queue ${name}`);
  return ok({ purged: cancelAll(st, q, 'purged') });
}

export function deleteQueue(st: MachineState, name: string, force: boolean): Answer {
  const q = st.queues.get(name);
  if (q === undefined) return err('NOT_FOUND', `no queue ${name}`);
  if (q.nonTerminal() > 0 && !force) {
    return err('FAILED_PRECONDITION', `queue ${name} holds non-terminal tasks`, { reason: 'queue_not_empty' });
  }
  const cancelled = cancelAll(st, q, 'deleted');
  for (let t = q.first; t !== null;) {
    const next = t.qnext;
    removeTask(st, t, false);
    t = next;
  }
  for (const [key, k] of q.keys) st.sum.sub(hashKey(st, q.name, key, k.id, k.expiresAt));
  st.keyCount -= q.keys.size;
  // A dirty queue is already out of the digest until the end of this entry.
  if (q.dirty) q.dirty = false;
  else st.sum.sub(hashQueue(st, q));
  st.queues.delete(name);
  return ok({ cancelled });
}
