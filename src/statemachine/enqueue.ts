// Enqueue (docs/design.md §3): all-or-nothing per command; idempotency keys per queue deduplicate for
// idempotencyWindowMs from the first enqueue and outlive the task (tombstones).

import type { Answer, CommandOf, DedupSpec, EnqueueItemAnswer, TaskSpec } from '../protocol/index.js';
import { formatId, parseId } from '../protocol/index.js';
import { addTask, bumpTotal, hashKey } from './digest.js';
import type { Hit } from './dedup.js';
import { ID_WINDOW_MS } from './custom-id.js';
import { dedupHit, dedupWindow, mapKey, replaceTask } from './dedup.js';
import { account } from './limits.js';
import { place, toWaitingChildren } from './placement.js';
import { checkDeps, linkDeps } from './deps.js';
import { newQueue, tooManyQueues } from './queues.js';
import type { Queue } from './records.js';
import { S_WAITING, T_ENQUEUED, Task } from './records.js';
import type { MachineState } from './state.js';
import { bucket, err, ev, ok, sharedHeaders, stampOf } from './state.js';

function liveKey(st: MachineState, q: Queue | undefined, key: string | undefined): number | undefined {
  if (q === undefined || key === undefined) return undefined;
  const k = q.keys.get(key);
  return k !== undefined && k.expiresAt > st.mono ? k.id : undefined;
}

/**
 * Backpressure (backpressure.ts, passed in to keep imports one way): null to admit, else the refusal.
 * `keep`: the tasks this enqueue's duplicates name (a debounce replaces one): never dropped to make room.
 */
export type Admit = (st: MachineState, q: Queue, fresh: TaskSpec[], keep: ReadonlySet<number>) => Answer | null;

const NO_TASKS: ReadonlySet<number> = new Set();

function dedupOf(st: MachineState, q: Queue | undefined, spec: TaskSpec): Hit | null {
  return spec.dedup === undefined ? null : dedupHit(st, q, spec.dedup);
}

export function enqueue(st: MachineState, cmd: CommandOf<'enqueue'>, admit?: Admit): Answer {
  const existing = st.queues.get(cmd.queue);
  if (existing?.deleting === true) {
    return err('FAILED_PRECONDITION', `queue ${cmd.queue} is being deleted`, { reason: 'queue_deleting' });
  }
  const items: EnqueueItemAnswer[] = [];
  // Made on first use: most enqueues have no keys, duplicates or dependencies.
  let replaces: [Task, TaskSpec][] | undefined;
  let batchKeys: Map<string, string> | undefined;
  let keep: Set<number> | undefined;
  let fresh = 0;
  let freshKeys = 0;
  // First pass decides everything (all-or-nothing); nothing is mutated until it passes.
  for (const spec of cmd.tasks) {
    const key = mapKey(spec);
    const inBatch = key === undefined ? undefined : batchKeys?.get(key);
    const live = spec.dedup === undefined ? liveKey(st, existing, key) : undefined;
    const hit = inBatch !== undefined || live !== undefined ? null : dedupOf(st, existing, spec);
    if (live !== undefined) (keep ??= new Set()).add(live);
    if (inBatch !== undefined || live !== undefined) {
      items.push({ id: inBatch ?? formatId(live as number), deduplicated: true });
      continue;
    }
    if (hit !== null) {
      (keep ??= new Set()).add(hit.id);
      items.push(hit.item);
      if (hit.replace !== undefined) (replaces ??= []).push([hit.replace, spec]);
      (batchKeys ??= new Map()).set(key as string, hit.item.id);
      continue;
    }
    const id = formatId(st.nextTaskId + fresh++);
    if (key !== undefined) {
      (batchKeys ??= new Map()).set(key, id);
      if (existing?.keys.has(key) !== true) freshKeys++;
    }
    items.push({ id, deduplicated: false });
  }
  const full = capacityError(st, existing, fresh, freshKeys) ?? checkDeps(st, cmd.tasks);
  if (full !== null) return full;
  // A dropOldest overflow never drops a dependency of this enqueue (it was checked to be live).
  for (const spec of cmd.tasks) {
    const deps = spec.dependsOn;
    if (deps !== undefined) for (const d of deps) (keep ??= new Set()).add(parseId(d.id) as number);
  }
  if (admit !== undefined && existing !== undefined && fresh > 0) {
    // Every item fresh (the common case): the specs as given, not a filtered copy.
    const specs =
      fresh === cmd.tasks.length
        ? cmd.tasks
        : cmd.tasks.filter((_, i) => !(items[i] as { deduplicated: boolean }).deduplicated);
    const refused = admit(st, existing, specs, keep ?? NO_TASKS);
    if (refused !== null) return refused;
  }
  const q = existing ?? newQueue(st, cmd.queue, {});
  for (const [t, spec] of replaces ?? []) {
    replaceTask(st, t, spec);
    recordKey(st, q, mapKey(spec) as string, t, dedupWindow(q, spec.dedup as DedupSpec));
  }
  for (let i = 0; i < cmd.tasks.length; i++) {
    if ((items[i] as { deduplicated: boolean }).deduplicated) continue;
    createTask(st, q, cmd.tasks[i] as TaskSpec);
  }
  return ok({ items });
}

export function capacityError(st: MachineState, q: Queue | undefined, fresh: number, freshKeys: number): Answer | null {
  if (fresh === 0) return null;
  if (q === undefined && st.queues.size >= st.limits.queuesMax) return tooManyQueues();
  const maxLength = q?.settings.maxLength ?? null;
  if (maxLength !== null && q !== undefined && q.nonTerminal() + fresh > maxLength) {
    return err('RESOURCE_EXHAUSTED', `queue ${q.name} is full`, { limit: 'maxLength', retryAfterMs: 1000 });
  }
  return globalCapacity(st, fresh, freshKeys);
}

/** The broker-wide limits on `fresh` new tasks adding `freshKeys` idempotency keys (enqueue, flow, publish). */
export function globalCapacity(st: MachineState, fresh: number, freshKeys: number): Answer | null {
  if (st.nonTerminal + fresh > st.limits.tasksMax) {
    return err('RESOURCE_EXHAUSTED', 'the broker is full', { limit: 'tasksMax', retryAfterMs: 1000 });
  }
  if (st.tasks.size + fresh > st.limits.tasksRetainedMax) {
    const message = 'too many tasks retained (pending and terminal): lower retentionMs or wait';
    return err('RESOURCE_EXHAUSTED', message, { limit: 'tasksRetainedMax', retryAfterMs: 1000 });
  }
  if (st.keyCount + freshKeys > st.limits.idempotencyKeysMax) {
    const message = 'too many idempotency keys held: lower idempotencyWindowMs or wait';
    return err('RESOURCE_EXHAUSTED', message, { limit: 'idempotencyKeysMax', retryAfterMs: 1000 });
  }
  return null;
}

/** A new task in `q` (enqueue, dead-letter copy, redrive); `link` sets its provenance before hashing. */
export function createTask(st: MachineState, q: Queue, spec: TaskSpec, link?: (t: Task) => void): Task {
  const id = st.nextTaskId++;
  const ph = st.h.reset().bytes(spec.payload).a;
  const t = new Task(id, q, ph, spec.priority ?? 0, stampOf(st));
  st.payloads.put(t, spec.payload);
  t.enqIndex = st.index;
  t.enqTerm = st.term;
  if (spec.headers !== undefined && Object.keys(spec.headers).length > 0) t.headers = sharedHeaders(st, spec.headers);
  if (spec.maxAttempts !== undefined) t.extra().maxAttempts = spec.maxAttempts;
  if (spec.maxDeliveries !== undefined) t.extra().maxDeliveries = spec.maxDeliveries;
  if (spec.leaseMs !== undefined) t.extra().leaseMs = spec.leaseMs;
  const ttl = spec.ttlMs ?? q.settings.taskTtlMs;
  if (ttl !== null) {
    t.extra().ttlAt = st.mono + ttl;
    st.ttlTimers.push({ at: st.mono + ttl, key: id });
  }
  if (spec.idempotencyKey !== undefined) recordKey(st, q, spec.idempotencyKey, t, q.settings.idempotencyWindowMs);
  if (spec.dedup !== undefined) recordKey(st, q, mapKey(spec) as string, t, dedupWindow(q, spec.dedup));
  if (spec.id !== undefined) recordKey(st, q, mapKey(spec) as string, t, ID_WINDOW_MS);
  if (spec.group !== undefined) joinGroup(q, spec.group, t);
  if (spec.key !== undefined) t.extra().limitKey = spec.key;
  if (spec.cost !== undefined && spec.cost !== 1) t.extra().cost = spec.cost;
  if (spec.backoff !== undefined && Object.keys(spec.backoff).length > 0) t.extra().backoff = spec.backoff;
  link?.(t);
  const waits = spec.dependsOn !== undefined && linkDeps(st, t, spec.dependsOn);
  st.tasks.set(id, t);
  q.append(t);
  q.counts[S_WAITING] = (q.counts[S_WAITING] as number) + 1;
  account(st, t, -1, S_WAITING);
  st.nonTerminal++;
  // Not inside mut(): a new task is not in the digest yet.
  if (waits) toWaitingChildren(st, t, true);
  else place(st, t, spec.delayMs, spec.runAt, true);
  addTask(st, t);
  bumpTotal(st, q, T_ENQUEUED);
  st.counters.enqueued++;
  ev(st, t, 'enqueued');
  return t;
}

function recordKey(st: MachineState, q: Queue, key: string, t: Task, windowMs: number): void {
  const old = q.keys.get(key);
  if (old !== undefined) st.sum.sub(hashKey(st, q.name, key, old.id, old.expiresAt));
  else st.keyCount++;
  const expiresAt = st.mono + windowMs;
  q.keys.set(key, { id: t.id, expiresAt });
  st.sum.add(hashKey(st, q.name, key, t.id, expiresAt));
  st.keyTimers.push({ at: bucket(st, expiresAt), key: keyTimer(q.name, key) });
  t.extra().key = key;
}

function joinGroup(q: Queue, name: string, t: Task): void {
  t.extra().group = name;
  const g = q.groups.get(name);
  if (g === undefined) q.groups.set(name, { tasks: [t], head: 0 });
  else g.tasks.push(t);
}

export function keyTimer(queue: string, key: string): string {
  return `${queue}\u0000${key}`;
}

export function splitKeyTimer(k: string): [string, string] {
  const i = k.indexOf('\u0000');
  return [k.slice(0, i), k.slice(i + 1)];
}
