// Workflows in the SDK (docs/workflows.md): dependencies of an enqueue, flows (a tree of tasks across
// queues in one command) and cancelFlow, cancel-and-wait of a running task, and the dependencies'
// results a handler reads (fan-in).
import type { DependencyPolicy, DependencySpec, FlowNodeSpec, TaskState, TaskView } from '../protocol/commands.js';
import { WAIT_FOR_WIRE } from '../protocol/wire-reads.js';
import type { CallOptions, Client } from './client.js';
import { DeadlineExceededError, NotLeaderError, UnavailableError, raftqError } from './errors.js';
import type { EnqueueOptions } from './queue.js';

/** A dependency: a task id (edge policy `fail`), or the id and what its failure does. */
export type Dependency = string | { id: string; policy?: DependencyPolicy };

/** The wire form of `dependsOn` (undefined when absent). */
export function dependencySpecs(deps: readonly Dependency[] | undefined, path: string): DependencySpec[] | undefined {
  if (deps === undefined) return undefined;
  if (!Array.isArray(deps))
    throw raftqError('INVALID_ARGUMENT', `${path}: must be a list of task ids`, { field: path });
  return deps.map((d, i) => {
    if (typeof d === 'string') return { id: d };
    if (typeof d !== 'object' || d === null || typeof d.id !== 'string') {
      const field = `${path}[${i}]`;
      throw raftqError('INVALID_ARGUMENT', `${field}: must be a task id or { id, policy }`, { field });
    }
    return d.policy === undefined ? { id: d.id } : { id: d.id, policy: d.policy };
  });
}

/** A task of a flow and the children it waits for (each child's `policy` is its edge to this task). */
export interface FlowTree<T = unknown> {
  queue: string;
  payload: T;
  options?: Omit<EnqueueOptions, 'idempotencyKey' | 'dependsOn'>;
  policy?: DependencyPolicy;
  children?: FlowTree[];
}

/** The ids of a flow's tasks, shaped like the tree. */
export interface FlowResult {
  id: string;
  queue: string;
  children: FlowResult[];
}

function flowNode(client: Client, tree: FlowTree, path: string): FlowNodeSpec {
  if (typeof tree !== 'object' || tree === null || typeof tree.queue !== 'string') {
    throw raftqError('INVALID_ARGUMENT', `${path}: must be { queue, payload, options?, children? }`, { field: path });
  }
  const task = client.queue(tree.queue).taskSpec({ payload: tree.payload, ...(tree.options ?? {}) }, 0);
  const node: FlowNodeSpec = { queue: tree.queue, task };
  if (tree.policy !== undefined) node.policy = tree.policy;
  const children = tree.children ?? [];
  if (children.length > 0) node.children = children.map((c, i) => flowNode(client, c, `${path}.children[${i}]`));
  return node;
}

/** Enqueues the tree in one command (all or nothing); resolves with its ids, shaped like the tree. */
export async function enqueueFlow(client: Client, tree: FlowTree, call: CallOptions = {}): Promise<FlowResult> {
  const root = flowNode(client, tree, 'root');
  const { answer } = await client.command({ type: 'flow', root }, call);
  const ids = [...answer.ids];
  const shape = (n: FlowNodeSpec): FlowResult => {
    const id = ids.shift();
    if (id === undefined) throw raftqError('INTERNAL', 'flow answered fewer ids than tasks');
    return { id, queue: n.queue, children: (n.children ?? []).map(shape) };
  };
  return shape(root);
}

/** Cancels every task of the flow not yet started and asks the running ones to stop. */
export async function cancelFlow(
  client: Client,
  rootId: string,
  call: CallOptions = {},
): Promise<{ cancelled: number; cancelRequested: number }> {
  const { answer } = await client.command({ type: 'cancelFlow', id: rootId }, call);
  return { cancelled: answer.cancelled, cancelRequested: answer.cancelRequested };
}

/**
 * The task once it is terminal, through the leader-side watch (re-established across failovers);
 * DeadlineExceededError past `timeoutMs`.
 */
export async function waitTerminal(client: Client, id: string, options: CallOptions = {}): Promise<TaskView> {
  const clock = client.clock;
  const deadline = options.timeoutMs === undefined ? Infinity : clock.now() + options.timeoutMs;
  for (;;) {
    const remaining = deadline - clock.now();
    if (remaining <= 0) throw raftqError('DEADLINE_EXCEEDED', `task ${id} is not terminal yet`);
    const slice = Math.min(remaining, 60_000);
    try {
      const reply = await client.query('WaitFor', WAIT_FOR_WIRE.request.encode(id, Math.ceil(slice)), {
        ...options,
        timeoutMs: slice + 1_000,
      });
      return WAIT_FOR_WIRE.reply.decode(reply).task;
    } catch (e) {
      // A watch that ended without an answer (timeout slice, step-down past our retries): again.
      const again = e instanceof DeadlineExceededError || e instanceof UnavailableError || e instanceof NotLeaderError;
      if (!again || client.isClosed || options.signal?.aborted) throw e;
    }
  }
}

/** Cancels a task: a pending one at once; a running one is asked to stop, and with `wait` this resolves once it ended. */
export async function cancelTask(
  client: Client,
  id: string,
  options: CallOptions & { wait?: boolean } = {},
): Promise<TaskState> {
  const { wait, ...call } = options;
  const { answer } = await client.command({ type: 'cancel', id, running: true }, call);
  if (wait !== true || answer.cancelRequested !== true) return answer.state;
  return (await waitTerminal(client, id, call)).state;
}

/** One dependency as a handler reads it: its state and (completed) decoded result. */
export interface DependencyResult {
  id: string;
  queue: string | null;
  policy: DependencyPolicy;
  state: TaskState | 'removed';
  result?: unknown;
}

/** The dependencies of task `id` with their states and results (fan-in); one read each. */
export async function readDependencies(client: Client, id: string): Promise<DependencyResult[]> {
  const self = await client.read('GetTask', { type: 'task', id });
  const deps = self.task.dependsOn ?? [];
  return Promise.all(
    deps.map(async (d): Promise<DependencyResult> => {
      try {
        const { task } = await client.read('GetTask', { type: 'task', id: d.id });
        const out: DependencyResult = { id: d.id, queue: task.queue, policy: d.policy, state: task.state };
        if (task.result !== undefined) out.result = client.codec.decode(task.result);
        return out;
      } catch (e) {
        if (!(e instanceof Error && 'code' in e && e.code === 'NOT_FOUND')) throw e;
        // Removed by retention since: what the edge recorded is all that is left.
        return { id: d.id, queue: null, policy: d.policy, state: d.ended ?? 'removed' };
      }
    }),
  );
}
