// Topics (docs/workflows.md): queues bound to a topic, each with header conditions (equality or
// prefix on header values, all of which must hold). A publish enqueues one task in every bound queue
// whose conditions match, in one command: every check is made before any queue is touched, so it is
// all or nothing. An idempotency key applies in each target queue (a repeat publish answers the
// same tasks). Queues are visited in name order, so every replica (and a restored one) agrees.

import type { Answer, CommandOf, HeaderFilter, TaskSpec } from '../protocol/index.js';
import { assert } from '../protocol/assert.js';
import { FLOW_LIMITS } from '../protocol/validate-flows.js';
import type { PublishedTask } from '../protocol/wire-flows.js';
import { capacityError, enqueue, globalCapacity } from './enqueue.js';
import type { Hasher } from './hash.js';
import { tooManyQueues } from './queues.js';
import type { MachineState } from './state.js';
import { err, ok } from './state.js';
import { mut } from './digest.js';
import { parseId } from '../protocol/index.js';

export function hashBinding(st: MachineState, topic: string, queue: string, filter: HeaderFilter[] | null): Hasher {
  return st.h.reset().tag(50).str(topic).str(queue).value(filter);
}

export function bindTopic(st: MachineState, cmd: CommandOf<'bindTopic'>): Answer {
  let bound = st.topics.get(cmd.topic);
  if (bound === undefined && st.topics.size >= FLOW_LIMITS.topicsMax) {
    return err('RESOURCE_EXHAUSTED', `at most ${FLOW_LIMITS.topicsMax} topics (topicsMax)`, { limit: 'topicsMax' });
  }
  const old = bound?.get(cmd.queue);
  if (old === undefined && (bound?.size ?? 0) >= FLOW_LIMITS.topicBindingsMax) {
    const message = `topic ${cmd.topic} has ${FLOW_LIMITS.topicBindingsMax} queues bound (topicBindingsMax)`;
    return err('RESOURCE_EXHAUSTED', message, { limit: 'topicBindingsMax' });
  }
  if (bound === undefined) {
    bound = new Map();
    st.topics.set(cmd.topic, bound);
  }
  if (old !== undefined) st.sum.sub(hashBinding(st, cmd.topic, cmd.queue, old));
  const filter = cmd.filter ?? null;
  bound.set(cmd.queue, filter);
  st.sum.add(hashBinding(st, cmd.topic, cmd.queue, filter));
  return ok({});
}

export function unbindTopic(st: MachineState, cmd: CommandOf<'unbindTopic'>): Answer {
  const bound = st.topics.get(cmd.topic);
  const old = bound?.get(cmd.queue);
  if (bound === undefined || old === undefined) return ok({ removed: false });
  st.sum.sub(hashBinding(st, cmd.topic, cmd.queue, old));
  bound.delete(cmd.queue);
  if (bound.size === 0) st.topics.delete(cmd.topic);
  return ok({ removed: true });
}

function matches(filter: HeaderFilter[] | null, headers: Record<string, string> | undefined): boolean {
  if (filter === null) return true;
  return filter.every((f) => {
    const v = headers?.[f.header];
    if (v === undefined) return false;
    return f.equals !== undefined ? v === f.equals : v.startsWith(f.prefix ?? '');
  });
}

/** The queues a publish of these headers goes to, in name order. */
export function targets(st: MachineState, topic: string, headers: Record<string, string> | undefined): string[] {
  const bound = st.topics.get(topic);
  if (bound === undefined) return [];
  return [...bound]
    .filter(([, f]) => matches(f, headers))
    .map(([q]) => q)
    .sort();
}

/** Every check enqueue would make, for all the target queues at once: null, or the refusal. */
function checkPublish(st: MachineState, queues: string[], spec: TaskSpec): Answer | null {
  let fresh = 0;
  let freshKeys = 0;
  let newQueues = 0;
  for (const name of queues) {
    const q = st.queues.get(name);
    if (q?.deleting === true) {
      return err('FAILED_PRECONDITION', `queue ${name} is being deleted`, { reason: 'queue_deleting' });
    }
    const key = spec.idempotencyKey;
    const k = key === undefined ? undefined : q?.keys.get(key);
    if (k !== undefined && k.expiresAt > st.mono) continue; // deduplicated there
    fresh++;
    if (key !== undefined && k === undefined) freshKeys++;
    if (q === undefined) {
      if (st.queues.size + ++newQueues > st.limits.queuesMax) return tooManyQueues();
      continue;
    }
    const full = capacityError(st, q, 1, 0);
    if (full !== null) return full;
  }
  return globalCapacity(st, fresh, freshKeys);
}

export function publish(st: MachineState, cmd: CommandOf<'publish'>): Answer {
  const queues = targets(st, cmd.topic, cmd.task.headers);
  const refused = checkPublish(st, queues, cmd.task);
  if (refused !== null) return refused;
  const items: PublishedTask[] = [];
  for (const queue of queues) {
    const a = enqueue(st, { type: 'enqueue', queue, tasks: [cmd.task] });
    assert(a.ok, 'a publish was checked to fit every target queue');
    const item = (a.value as { items: { id: string; deduplicated: boolean }[] }).items[0];
    assert(item !== undefined, 'an enqueue of one task answers one item');
    // State machine version 2 (version.ts): the task records the topic (its story names it).
    if (st.activeVersion >= 2 && !item.deduplicated) noteTopic(st, item.id, cmd.topic);
    items.push({ queue, id: item.id, deduplicated: item.deduplicated });
  }
  return ok({ items });
}

/** Version 2: the task `id` a publish just created records its topic. */
function noteTopic(st: MachineState, id: string, topic: string): void {
  const t = st.tasks.get(parseId(id) ?? 0);
  assert(t !== undefined, 'a published task exists');
  mut(st, t, () => (t.extra().topic = topic));
}
