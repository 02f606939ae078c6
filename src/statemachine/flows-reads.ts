// The workflow fields of a task view (docs/workflows.md): cancel request, dependencies, dependants, flow.

import type { DependencyPolicy, DependencyView, TaskState, TaskView } from '../protocol/index.js';
import { formatId } from '../protocol/index.js';
import type { TaskExtra } from './records.js';
import { STATE_NAMES } from './records.js';

export const POLICY_NAMES: readonly DependencyPolicy[] = ['fail', 'ignore', 'remove'];

export function flowView(x: TaskExtra, v: TaskView): void {
  if (x.cancelReq === true) v.cancelRequested = true;
  if (x.deps !== undefined) {
    v.dependsOn = x.deps.map((e) => {
      const d: DependencyView = { id: formatId(e.id), policy: POLICY_NAMES[e.policy] as DependencyPolicy };
      if (e.end >= 0) d.ended = STATE_NAMES[e.end] as TaskState;
      if (e.removed) d.removed = true;
      return d;
    });
  }
  if (x.dependants !== undefined) v.dependants = x.dependants.map(formatId);
  if (x.flow !== undefined) v.flow = formatId(x.flow);
}
