// Backpressure (issue 13): `maxWaiting` per queue and per limit key bounds the tasks waiting or
// delayed. At the bound, an enqueue is refused (overflow 'refuse', RESOURCE_EXHAUSTED naming the
// limit) or makes room by dead-lettering the oldest waiting tasks (overflow 'dropOldest', reason
// `overflow`, copied to the dead-letter queue like any dead task). Oldest is by enqueue order: the
// search walks the queue's task list from its first task, at most adminTasksPerEntryMax tasks;
// when it finds too few within that, the enqueue is refused instead. All decided before anything
// changes, so an enqueue stays all-or-nothing.

import type { Answer, QueueSettings, TaskSpec } from '../protocol/index.js';
import { afterDead } from './deadletters.js';
import { mut } from './digest.js';
import { toTerminal } from './placement.js';
import type { Queue, Task } from './records.js';
import { S_DEAD, S_DELAYED, S_WAITING } from './records.js';
import type { MachineState } from './state.js';
import { err } from './state.js';

/** A key's maxWaiting: its override, else the queue's key default; the unkeyed tasks have none. */
function keyMaxWaiting(s: QueueSettings, key: string): number | null {
  if (key === '') return null;
  const o = s.keys?.[key]?.maxWaiting;
  return o !== undefined ? o : (s.keyLimits?.maxWaiting ?? null);
}

function pendingOf(q: Queue): number {
  return (q.counts[S_WAITING] as number) + (q.counts[S_DELAYED] as number);
}

function full(limit: string, message: string): Answer {
  return err('RESOURCE_EXHAUSTED', message, { limit, retryAfterMs: 1000 });
}

/**
 * Admit `fresh` new tasks into `q` (after dedup): null to go on (room was made if the policy
 * drops), or the refusal. Cheap when the queue sets no maxWaiting.
 */
export function admit(st: MachineState, q: Queue, fresh: TaskSpec[], keep: ReadonlySet<number>): Answer | null {
  const s = q.settings;
  if (s.maxWaiting == null && s.keyLimits?.maxWaiting == null && s.keys === undefined) return null;
  const perKey = new Map<string, number>();
  for (const spec of fresh) perKey.set(spec.key ?? '', (perKey.get(spec.key ?? '') ?? 0) + 1);
  const drop = s.overflow === 'dropOldest';
  const over = new Map<string, number>();
  for (const [key, n] of perKey) {
    const max = keyMaxWaiting(s, key);
    const have = q.lkeys.get(key)?.pending ?? 0;
    if (max === null || have + n <= max) continue;
    if (!drop || n > max) return full('keyMaxWaiting', `key ${key} of queue ${q.name} has ${have} tasks waiting`);
    over.set(key, have + n - max);
  }
  let keyDrops = 0;
  for (const n of over.values()) keyDrops += n;
  const queueOver = s.maxWaiting == null ? 0 : pendingOf(q) - keyDrops + fresh.length - s.maxWaiting;
  if (queueOver > 0 && (!drop || fresh.length > (s.maxWaiting as number))) {
    return full('maxWaiting', `queue ${q.name} has ${pendingOf(q)} tasks waiting`);
  }
  if (over.size === 0 && queueOver <= 0) return null;
  const victims = oldest(st, q, over, Math.max(0, queueOver), keep);
  if (victims === null) return full('maxWaiting', `queue ${q.name}: no room found for the overflow`);
  for (const t of victims) {
    mut(st, t, () => toTerminal(st, t, S_DEAD, 'overflow'));
    afterDead(st, t);
  }
  return null;
}

/**
 * The oldest waiting tasks, none in `keep`: `over` per key, then `queueOver` more of any key; null if
 * too few found.
 */
function oldest(
  st: MachineState,
  q: Queue,
  over: Map<string, number>,
  queueOver: number,
  keep: ReadonlySet<number>,
): Task[] | null {
  const left = new Map(over);
  let need = queueOver;
  for (const n of left.values()) need += n;
  const out: Task[] = [];
  let budget = st.limits.adminTasksPerEntryMax;
  for (let t = q.first; t !== null && need > 0 && budget-- > 0; t = t.qnext) {
    if ((t.state !== S_WAITING && t.state !== S_DELAYED) || keep.has(t.id)) continue;
    const key = t.x?.limitKey ?? '';
    const k = left.get(key) ?? 0;
    if (k > 0) left.set(key, k - 1);
    else if (queueOver > 0) queueOver--;
    else continue;
    out.push(t);
    need--;
  }
  return need > 0 ? null : out;
}
