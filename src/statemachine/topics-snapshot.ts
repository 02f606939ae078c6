// Topic bindings in a snapshot (raftq-sm/5, docs/workflows.md): one `topics` chunk of rows
// [topic, queue, filter | null], sorted, restored into the bindings and the digest sum.

import type { HeaderFilter } from '../protocol/index.js';
import type { MachineState } from './state.js';
import { hashBinding } from './topics.js';

export type TopicRow = [string, string, HeaderFilter[] | null];

export function topicRows(m: MachineState): TopicRow[] {
  const rows: TopicRow[] = [];
  for (const [topic, bound] of m.topics) for (const [queue, filter] of bound) rows.push([topic, queue, filter]);
  return rows.sort((a, b) => (a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
}

export function restoreTopics(m: MachineState, rows: TopicRow[]): void {
  for (const [topic, queue, filter] of rows) {
    let bound = m.topics.get(topic);
    if (bound === undefined) {
      bound = new Map();
      m.topics.set(topic, bound);
    }
    bound.set(queue, filter);
    m.sum.add(hashBinding(m, topic, queue, filter));
  }
}
