// Dependency edges of a new task (docs/workflows.md): checked before an enqueue or a flow mutates
// anything, linked when the task is created. Resolution when a dependency ends: flows.ts.

import type { Answer, DependencySpec, TaskSpec } from '../protocol/index.js';
import { parseId } from '../protocol/index.js';
import { FLOW_LIMITS } from '../protocol/validate-flows.js';
import { assert } from '../protocol/assert.js';
import { mut } from './digest.js';
import type { DepEdge, Task } from './records.js';
import { P_FAIL, P_IGNORE, P_REMOVE, S_COMPLETED, STATE_NAMES, isTerminal } from './records.js';
import type { MachineState } from './state.js';
import { err } from './state.js';

const POLICY_CODES: Readonly<Record<string, number>> = { fail: P_FAIL, ignore: P_IGNORE, remove: P_REMOVE };

/** Ended other than completed: cancelled, expired and dead count as failed. */
export function failedEnd(state: number): boolean {
  return isTerminal(state) && state !== S_COMPLETED;
}

/**
 * Every dependency of these specs exists, and none already failed on a `fail` edge (that task could
 * never run). Null, or the refusal naming the field.
 */
export function checkDeps(st: MachineState, specs: readonly TaskSpec[], path = 'tasks'): Answer | null {
  for (let i = 0; i < specs.length; i++) {
    const deps = (specs[i] as TaskSpec).dependsOn ?? [];
    for (let j = 0; j < deps.length; j++) {
      const d = deps[j] as DependencySpec;
      const field = `${path}[${i}].dependsOn[${j}].id`;
      const dep = st.tasks.get(parseId(d.id) as number);
      if (dep === undefined) return err('NOT_FOUND', `dependency ${d.id} does not exist`, { field });
      if (!isTerminal(dep.state) && (dep.x?.dependants?.length ?? 0) >= FLOW_LIMITS.dependantsMax) {
        const message = `task ${d.id} has ${FLOW_LIMITS.dependantsMax} dependants (dependantsMax)`;
        return err('RESOURCE_EXHAUSTED', message, { limit: 'dependantsMax', field });
      }
      if ((d.policy ?? 'fail') === 'fail' && failedEnd(dep.state)) {
        const message = `dependency ${d.id} already ended ${STATE_NAMES[dep.state]}`;
        return err('FAILED_PRECONDITION', message, { reason: 'dependency_failed', field });
      }
    }
  }
  return null;
}

/**
 * Link a new task (not yet in the digest) to its dependencies; true while some have not ended. An
 * ended one is resolved at once; a pending one records the task as its dependant.
 */
export function linkDeps(st: MachineState, t: Task, deps: readonly DependencySpec[]): boolean {
  const edges: DepEdge[] = [];
  let pending = false;
  for (const d of deps) {
    const dep = st.tasks.get(parseId(d.id) as number);
    assert(dep !== undefined, 'a dependency was checked to exist');
    const policy = POLICY_CODES[d.policy ?? 'fail'] as number;
    const e: DepEdge = { id: dep.id, policy, end: -1, removed: false };
    if (isTerminal(dep.state)) {
      assert(!(policy === P_FAIL && failedEnd(dep.state)), 'a failed dependency on a fail edge was refused');
      e.end = dep.state;
      e.removed = policy === P_REMOVE && failedEnd(dep.state);
    } else {
      pending = true;
      mut(st, dep, () => {
        const x = dep.extra();
        if (x.dependants === undefined) x.dependants = [t.id];
        else x.dependants.push(t.id);
      });
    }
    edges.push(e);
  }
  t.extra().deps = edges;
  return pending;
}
