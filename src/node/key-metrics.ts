// Per-key metrics of issue 13 on the node's registry (kept apart from metrics.ts): for each labelled
// queue, the KEY_LABELS_MAX limit keys with the most tasks waiting get their own `key` label value
// (tasks without a key: NO_KEY), every other key is summed under OTHER_KEY. Cardinality stays at most
// QUEUE_LABELS_MAX × (KEY_LABELS_MAX + 1) series per metric. docs/metrics.md lists them.
import { Gauge } from 'prom-client';
import type { MachineState } from '../statemachine/state.js';
import { keyMetrics } from '../statemachine/limits-metrics.js';
import type { NodeMetrics } from './metrics.js';

/** Keys of one queue that get their own label value (by tasks waiting); the others sum into OTHER_KEY. */
export const KEY_LABELS_MAX = 10;
export const OTHER_KEY = '_other';
/** The label value of the tasks without a limit key. */
export const NO_KEY = '_none';

interface KeyGauges {
  keys: Gauge<'queue'>;
  held: Gauge<'queue'>;
  waiting: Gauge<'queue' | 'key'>;
  leased: Gauge<'queue' | 'key'>;
  inUse: Gauge<'queue' | 'key'>;
  tokens: Gauge<'queue' | 'key'>;
  weight: Gauge<'queue' | 'key'>;
}

const made = new WeakMap<NodeMetrics, KeyGauges>();

function gauges(m: NodeMetrics): KeyGauges {
  let g = made.get(m);
  if (g !== undefined) return g;
  const gauge = <L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> =>
    new Gauge({ name, help, labelNames, registers: [m.registry] });
  g = {
    keys: gauge('raftq_limit_keys', 'Limit keys a queue tracks now (keys with tasks, and the unkeyed tasks)', [
      'queue',
    ]),
    held: gauge('raftq_limit_keys_held', "Limit keys held back now by a handler's RateLimitedError (a 429)", ['queue']),
    waiting: gauge('raftq_key_waiting', 'Tasks waiting or delayed per limit key (top keys; the rest as _other)', [
      'queue',
      'key',
    ]),
    leased: gauge('raftq_key_leased', 'Tasks leased per limit key (top keys; the rest as _other)', ['queue', 'key']),
    inUse: gauge('raftq_key_cost_in_use', 'Cost units leased per limit key (top keys; the rest as _other)', [
      'queue',
      'key',
    ]),
    tokens: gauge('raftq_key_tokens', 'Whole cost units in the bucket of a rate-limited top key', ['queue', 'key']),
    weight: gauge('raftq_key_weight', 'Fair-scheduling weight of a top key', ['queue', 'key']),
  };
  made.set(m, g);
  return g;
}

/** On each scrape: the per-key gauges of these (labelled) queues, read from the applied state. */
export function refreshKeyMetrics(m: NodeMetrics, state: MachineState, queues: Iterable<string>): void {
  const g = gauges(m);
  for (const x of Object.values(g)) x.reset();
  for (const queue of queues) {
    const km = keyMetrics(state, queue, KEY_LABELS_MAX);
    if (km === null) continue;
    g.keys.set({ queue }, km.keys);
    g.held.set({ queue }, km.held);
    for (const k of km.top) {
      const labels = { queue, key: k.key === '' ? NO_KEY : k.key };
      g.waiting.set(labels, k.waiting);
      g.leased.set(labels, k.leased);
      g.inUse.set(labels, k.inUse);
      g.weight.set(labels, k.weight);
      if (k.tokens !== null) g.tokens.set(labels, k.tokens);
    }
    if (km.rest.keys > 0) {
      const labels = { queue, key: OTHER_KEY };
      g.waiting.set(labels, km.rest.waiting);
      g.leased.set(labels, km.rest.leased);
      g.inUse.set(labels, km.rest.inUse);
    }
  }
}
