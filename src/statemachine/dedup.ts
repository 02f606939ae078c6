// Deduplication modes per enqueue (issue 13), beside the fixed-window idempotency key: the dedup key
// lives in the queue's key map (prefixed, so it never meets an idempotency key), pointing at the
// task it keeps, with the mode's window as its lifetime; snapshots and the digest carry it as any key.
//   active   — duplicate while the kept task is not terminal (the window is a fallback bound);
//   throttle — duplicate within the window from the first enqueue;
//   debounce — within the window from the last enqueue, a waiting / delayed kept task takes the new
//              payload (and headers) and the new delay / runAt; a running one gets a follow-up: the
//              new task, which the key keeps from then on.

import type { DedupSpec, EnqueueItemAnswer, TaskSpec } from '../protocol/index.js';
import { formatId } from '../protocol/index.js';
import { ID_PREFIX } from './custom-id.js';
import { mut } from './digest.js';
import { place } from './placement.js';
import type { Queue, Task } from './records.js';
import { S_DELAYED, S_WAITING, isTerminal } from './records.js';
import type { MachineState } from './state.js';
import { ev } from './state.js';
import { note } from './story.js';

/** Dedup keys share the queue's key map with idempotency keys under this prefix. */
const PREFIX = '\u0001';

/** The key-map key of a spec: its idempotency key, its dedup key or custom id (prefixed), or none. */
export function mapKey(spec: TaskSpec): string | undefined {
  if (spec.id !== undefined) return ID_PREFIX + spec.id;
  return spec.dedup === undefined ? spec.idempotencyKey : PREFIX + spec.dedup.key;
}

/** A key-map key that is not an idempotency key (a dedup key or a custom id). */
export function isDedupKey(k: string): boolean {
  return k.startsWith(PREFIX) || k.startsWith(ID_PREFIX);
}

export function dedupWindow(q: Queue, d: DedupSpec): number {
  return d.windowMs ?? q.settings.idempotencyWindowMs;
}

export interface Hit {
  item: EnqueueItemAnswer;
  /** The task the key keeps (the one the answer names). */
  id: number;
  /** debounce: the task whose payload this enqueue replaces. */
  replace?: Task;
}

/** What an enqueue with `d` meets in `q` now: a hit (deduplicated, throttled, replaced) or null (a new task). */
export function dedupHit(st: MachineState, q: Queue | undefined, d: DedupSpec): Hit | null {
  const e = q?.keys.get(PREFIX + d.key);
  if (e === undefined || e.expiresAt <= st.mono) return null;
  const t = st.tasks.get(e.id);
  const id = formatId(e.id);
  switch (d.mode) {
    case 'throttle':
      return { item: { id, deduplicated: true, throttled: true }, id: e.id };
    case 'active':
      return t !== undefined && !isTerminal(t.state) ? { item: { id, deduplicated: true }, id: e.id } : null;
    default:
      return t !== undefined && (t.state === S_WAITING || t.state === S_DELAYED)
        ? { item: { id, deduplicated: true, replaced: true }, id: e.id, replace: t }
        : null;
  }
}

/** debounce: keep-last — the kept task takes the new payload, headers and delay / runAt. */
export function replaceTask(st: MachineState, t: Task, spec: TaskSpec): void {
  mut(st, t, () => {
    st.payloads.replace(t, spec.payload);
    t.ph = st.h.reset().bytes(spec.payload).a;
    if (spec.headers !== undefined && Object.keys(spec.headers).length > 0) t.headers = spec.headers;
    place(st, t, spec.delayMs, spec.runAt);
    note(st, t, 'replaced', `debounce: a later enqueue's payload (${spec.payload.byteLength} bytes)`);
  });
  ev(st, t, 'updated');
}
