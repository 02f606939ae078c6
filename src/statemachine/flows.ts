// Workflows (docs/workflows.md). A task with dependencies waits in `waiting-children`, in no heap,
// until every dependency ended; then it becomes waiting (leasable) — unless one failed (cancelled,
// expired or dead) on a `fail` edge: then it is dead-lettered at once, reason `dependency_failed`,
// which its own dependants learn in turn. `ignore` edges record the failure and go on; `remove`
// edges are dropped. A flow is a tree of new tasks across queues, each parent depending on its
// children, created in one command, all or nothing; cancelFlow cancels the tree from its root.
// Cycles cannot form: a dependency exists before its dependant (a flow creates children first).

import type { Answer, CommandOf, FlowNodeSpec, TaskSpec } from '../protocol/index.js';
import { formatId, parseId } from '../protocol/index.js';
import { assert } from '../protocol/assert.js';
import { afterDead } from './deadletters.js';
import { checkDeps, failedEnd } from './deps.js';
import { mut } from './digest.js';
import { createTask, globalCapacity } from './enqueue.js';
import { finish, toTerminal, toWaiting } from './placement.js';
import { newQueue, tooManyQueues } from './queues.js';
import type { DepEdge, Queue, Task } from './records.js';
import {
  P_FAIL,
  P_REMOVE,
  S_CANCELLED,
  S_DEAD,
  S_DELAYED,
  S_LEASED,
  S_WAITING,
  S_WAITING_CHILDREN,
  STATE_NAMES,
  T_CANCELLED,
} from './records.js';
import { requestCancel } from './cancel.js';
import type { MachineState } from './state.js';
import { err, ev, ok } from './state.js';
import { note } from './story.js';

/**
 * The state's onDependencyEnded hook: resolve the dependants of `t`. A cascade (a dependant
 * dead-lettered, whose own dependants resolve next) runs as a loop over st.depWork, not recursion.
 */
export function dependencyEnded(st: MachineState, t: Task): void {
  st.depWork.push(t);
  if (st.depWork.length > 1) return; // the loop below, further up the stack, will get to it
  try {
    for (let i = 0; i < st.depWork.length; i++) resolveDependants(st, st.depWork[i] as Task);
  } finally {
    st.depWork = [];
  }
}

function resolveDependants(st: MachineState, dep: Task): void {
  for (const id of dep.x?.dependants ?? []) {
    const d = st.tasks.get(id);
    // Cancelled (or otherwise ended) while it waited: nothing left to decide.
    if (d === undefined || d.state !== S_WAITING_CHILDREN) continue;
    const edges = d.x?.deps as DepEdge[];
    let failed = false;
    let released = false;
    mut(st, d, () => {
      for (const e of edges) {
        if (e.id !== dep.id || e.end >= 0) continue;
        e.end = dep.state;
        if (failedEnd(dep.state)) {
          if (e.policy === P_FAIL) failed = true;
          else if (e.policy === P_REMOVE) e.removed = true;
        }
        note(st, d, 'dependency', dependencyDetail(dep, e));
      }
      if (failed) {
        d.extra().lastError = `dependency ${formatId(dep.id)} ended ${dep.state === S_DEAD ? 'dead' : 'failed'}`;
        toTerminal(st, d, S_DEAD, 'dependency_failed');
      } else if (edges.every((e) => e.end >= 0)) {
        toWaiting(st, d);
        note(st, d, 'ready', 'every dependency ended');
        released = true;
      }
    });
    if (failed) afterDead(st, d);
    else if (released) ev(st, d, 'ready');
  }
}

/** The story's dependency step: which one ended, how, and what its edge made of that. */
function dependencyDetail(dep: Task, e: DepEdge): string {
  const how = `${formatId(dep.id)} ended ${STATE_NAMES[dep.state] as string}`;
  if (!failedEnd(dep.state)) return how;
  if (e.policy === P_FAIL) return `${how}: this task fails (policy fail)`;
  return e.policy === P_REMOVE ? `${how}: edge removed (policy remove)` : `${how}: ignored (policy ignore)`;
}

// ------------------------------------------------------------------ flows

interface Planned {
  node: FlowNodeSpec;
  q: Queue | undefined;
}

/** Post-order (children first): the creation order, so that every dependency exists first. */
function postOrder(n: FlowNodeSpec, out: FlowNodeSpec[]): FlowNodeSpec[] {
  for (const c of n.children ?? []) postOrder(c, out);
  out.push(n);
  return out;
}

/** Every check of the flow before anything is created: a flow is all or nothing. */
function planFlow(st: MachineState, nodes: FlowNodeSpec[]): Answer | null {
  const perQueue = new Map<string, Planned[]>();
  for (const node of nodes) {
    const list = perQueue.get(node.queue) ?? [];
    list.push({ node, q: st.queues.get(node.queue) });
    perQueue.set(node.queue, list);
  }
  let newQueues = 0;
  for (const [name, list] of perQueue) {
    const q = (list[0] as Planned).q;
    if (q?.deleting === true) {
      return err('FAILED_PRECONDITION', `queue ${name} is being deleted`, { reason: 'queue_deleting' });
    }
    if (q === undefined && st.queues.size + ++newQueues > st.limits.queuesMax) return tooManyQueues();
    const maxLength = q?.settings.maxLength ?? null;
    if (q !== undefined && maxLength !== null && q.nonTerminal() + list.length > maxLength) {
      return err('RESOURCE_EXHAUSTED', `queue ${name} is full`, { limit: 'maxLength', retryAfterMs: 1000 });
    }
  }
  return globalCapacity(st, nodes.length, 0);
}

export function flow(st: MachineState, cmd: CommandOf<'flow'>): Answer {
  const order = postOrder(cmd.root, []);
  const refused =
    planFlow(st, order) ??
    checkDeps(
      st,
      order.map((n) => n.task),
    );
  if (refused !== null) return refused;
  const rootId = st.nextTaskId + order.length - 1;
  const ids = new Map<FlowNodeSpec, number>();
  for (const node of order) {
    const spec: TaskSpec = { ...node.task };
    const children = node.children ?? [];
    if (children.length > 0) {
      spec.dependsOn = children.map((c) => {
        const id = formatId(ids.get(c) as number);
        return c.policy === undefined ? { id } : { id, policy: c.policy };
      });
    }
    const q = st.queues.get(node.queue) ?? newQueue(st, node.queue, {});
    const t = createTask(st, q, spec, (n) => (n.extra().flow = rootId));
    ids.set(node, t.id);
  }
  assert(ids.get(cmd.root) === rootId, 'a flow root is its last task');
  const pre: string[] = [];
  const walk = (n: FlowNodeSpec): void => {
    pre.push(formatId(ids.get(n) as number));
    for (const c of n.children ?? []) walk(c);
  };
  walk(cmd.root);
  return ok({ ids: pre });
}

/**
 * Cancel a flow from its root, parents before children (so no parent is dead-lettered by its
 * children's cancellation): pending tasks end `cancelled` (reason `flow_cancelled`), running ones
 * get a cancel request. A flow is at most flowTasksMax tasks: one entry does it all.
 */
export function cancelFlow(st: MachineState, idStr: string): Answer {
  const root = st.tasks.get(parseId(idStr) as number);
  if (root === undefined) return err('NOT_FOUND', `no task ${idStr}`);
  if (root.x?.flow !== root.id) {
    return err('FAILED_PRECONDITION', `task ${idStr} is not the root of a flow`, { reason: 'not_a_flow_root' });
  }
  const counts = { cancelled: 0, cancelRequested: 0 };
  const visit = (t: Task): void => {
    if (t.state === S_WAITING || t.state === S_DELAYED || t.state === S_WAITING_CHILDREN) {
      finish(st, t, S_CANCELLED, 'flow_cancelled', T_CANCELLED, 'cancelled');
      counts.cancelled++;
    } else if (t.state === S_LEASED && t.x?.cancelReq !== true) {
      requestCancel(st, t);
      counts.cancelRequested++;
    }
    for (const e of t.x?.deps ?? []) {
      const c = st.tasks.get(e.id);
      if (c !== undefined && c.x?.flow === root.id) visit(c);
    }
  };
  visit(root);
  return ok(counts);
}
