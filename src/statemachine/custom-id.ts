// Custom task ids (issue 13): `id: 'invoice-42'` on enqueue names the task in its queue, and a second
// enqueue with that id returns the first task. The id lives in the queue's key map (beside
// idempotency and dedup keys, under its own prefix) for as long as its task does: removing the task
// (retention, deletion) frees the id; ID_WINDOW_MS is only a fallback bound. A leaf module, so that
// placement.ts (removeTask) can call it without an import cycle.

import { hashKey } from './digest.js';
import type { Task } from './records.js';
import type { MachineState } from './state.js';

export const ID_PREFIX = '\u0002';
/** Fallback lifetime of a custom id: past any delay, ttl or retention a task can have (800 days). */
export const ID_WINDOW_MS = 2 * 400 * 24 * 3_600_000;

/** The custom id a key-map key stands for, or undefined. */
export function customIdOf(key: string | undefined): string | undefined {
  return key !== undefined && key.startsWith(ID_PREFIX) ? key.slice(ID_PREFIX.length) : undefined;
}

/** A removed task frees its custom id (if the queue's key map still names it): the id may name a new task. */
export function customIdRemoved(st: MachineState, t: Task): void {
  const key = t.x?.key;
  if (key === undefined || !key.startsWith(ID_PREFIX)) return;
  const k = t.q.keys.get(key);
  if (k === undefined || k.id !== t.id) return;
  st.sum.sub(hashKey(st, t.q.name, key, k.id, k.expiresAt));
  t.q.keys.delete(key);
  st.keyCount--;
}
