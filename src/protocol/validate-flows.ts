// Validators of workflows and fan-out (docs/workflows.md): dependencies of an enqueued task, flows,
// cancelFlow, topic bindings and publish. validate.ts hands in its field checks (imports point one
// way) and looks these up by command type. The caps are fixed: every one is named in its error.

import type {
  Command,
  CommandOf,
  DependencyPolicy,
  DependencySpec,
  FlowNodeSpec,
  HeaderFilter,
  TaskSpec,
} from './commands.js';
import type { Limits } from './limits.js';

export type FlowCommandType = 'flow' | 'cancelFlow' | 'bindTopic' | 'unbindTopic' | 'publish';

/** Fixed caps of workflows and fan-out (each error names the one it hit). */
export const FLOW_LIMITS = Object.freeze({
  /** Dependencies of one task. */
  dependsOnMax: 100,
  /** Tasks depending on one task (its dependants list is rehashed on each new one). */
  dependantsMax: 1000,
  /** Levels of a flow below its root. */
  flowDepthMax: 10,
  /** Children of one task of a flow. */
  flowChildrenMax: 100,
  /** Tasks of one flow, root included. */
  flowTasksMax: 1000,
  /** Queues bound to one topic. */
  topicBindingsMax: 100,
  /** Topics with bindings. */
  topicsMax: 1000,
  /** Header conditions of one binding. */
  topicFiltersMax: 16,
});

export const DEPENDENCY_POLICIES: readonly DependencyPolicy[] = ['fail', 'ignore', 'remove'];

type Obj = Record<string, unknown>;

/** The field checks of validate.ts: each throws its INVALID_ARGUMENT marker naming the field. */
export interface FieldKit {
  fail(field: string, message: string): never;
  own(o: Obj, k: string): unknown;
  isObj(v: unknown): v is Obj;
  name(o: Obj, k: string, path: string, limits: Limits): string;
  str(o: Obj, k: string, path: string, maxBytes: number, optional: true): string | undefined;
  id(o: Obj, k: string, path: string): string;
  taskSpec(v: unknown, path: string, limits: Limits): TaskSpec;
}

type Validator = (o: Obj, limits: Limits) => Command;

export type FlowValidators = Record<FlowCommandType, Validator> & {
  /** `dependsOn` of a task spec at `path` (already validated as `spec` but for it). */
  dependsOn(v: Obj, spec: TaskSpec, path: string): DependencySpec[];
};

type PolicyOf = (o: Obj, path: string) => DependencyPolicy | undefined;

function makePolicy(k: FieldKit): PolicyOf {
  return (o, path) => {
    const p = k.own(o, 'policy');
    if (p === undefined) return undefined;
    if (typeof p !== 'string' || !(DEPENDENCY_POLICIES as readonly string[]).includes(p)) {
      k.fail(path, "must be 'fail', 'ignore' or 'remove'");
    }
    return p as DependencyPolicy;
  };
}

function makeDependsOn(k: FieldKit, policy: PolicyOf): FlowValidators['dependsOn'] {
  return (v, spec, path) => {
    const list = k.own(v, 'dependsOn');
    const at = `${path}.dependsOn`;
    if (!Array.isArray(list) || list.length === 0) k.fail(at, 'must be a list of 1 or more dependencies');
    if (list.length > FLOW_LIMITS.dependsOnMax) {
      k.fail(at, `at most ${FLOW_LIMITS.dependsOnMax} dependencies (dependsOnMax)`);
    }
    if (spec.delayMs !== undefined || spec.runAt !== undefined) {
      k.fail(at, 'exclusive with delayMs and runAt (a task runs when its dependencies complete)');
    }
    const seen = new Set<string>();
    return list.map((d: unknown, j) => {
      const p = `${at}[${j}]`;
      if (!k.isObj(d)) k.fail(p, 'must be { id, policy? }');
      const out: DependencySpec = { id: k.id(d, 'id', `${p}.id`) };
      if (seen.has(out.id)) k.fail(`${p}.id`, `names task ${out.id} twice`);
      seen.add(out.id);
      const pol = policy(d, `${p}.policy`);
      if (pol !== undefined && pol !== 'fail') out.policy = pol;
      return out;
    });
  };
}

type FlowNodeOf = (v: unknown, path: string, limits: Limits, depth: number, count: { n: number }) => FlowNodeSpec;

function makeFlowNode(k: FieldKit, policy: PolicyOf): FlowNodeOf {
  /** A flow's task: no deduplication (a flow is all or nothing), dependencies only through children. */
  const flowTask = (v: unknown, path: string, limits: Limits, parent: boolean): TaskSpec => {
    if (k.isObj(v)) {
      for (const f of ['idempotencyKey', 'dedup', 'dependsOn']) {
        if (k.own(v, f) !== undefined) k.fail(`${path}.${f}`, 'is not allowed in a flow');
      }
    }
    const spec = k.taskSpec(v, path, limits);
    if (parent && (spec.delayMs !== undefined || spec.runAt !== undefined)) {
      k.fail(`${path}.delayMs`, 'a task with children runs when they complete: no delayMs or runAt');
    }
    return spec;
  };

  const flowNode: FlowNodeOf = (v, path, limits, depth, count) => {
    if (!k.isObj(v)) k.fail(path, 'must be a flow node { queue, task, policy?, children? }');
    if (depth > FLOW_LIMITS.flowDepthMax)
      k.fail(path, `a flow is at most ${FLOW_LIMITS.flowDepthMax} levels deep (flowDepthMax)`);
    count.n += 1;
    if (count.n > FLOW_LIMITS.flowTasksMax)
      k.fail(path, `a flow holds at most ${FLOW_LIMITS.flowTasksMax} tasks (flowTasksMax)`);
    const kids = k.own(v, 'children');
    if (kids !== undefined && !Array.isArray(kids)) k.fail(`${path}.children`, 'must be a list of flow nodes');
    const children = (kids ?? []) as unknown[];
    if (children.length > FLOW_LIMITS.flowChildrenMax) {
      k.fail(`${path}.children`, `at most ${FLOW_LIMITS.flowChildrenMax} children per task (flowChildrenMax)`);
    }
    const out: FlowNodeSpec = {
      queue: k.name(v, 'queue', `${path}.queue`, limits),
      task: flowTask(k.own(v, 'task'), `${path}.task`, limits, children.length > 0),
    };
    const pol = policy(v, `${path}.policy`);
    if (pol !== undefined && pol !== 'fail') out.policy = pol;
    if (children.length > 0) {
      out.children = children.map((c, i) => flowNode(c, `${path}.children[${i}]`, limits, depth + 1, count));
    }
    return out;
  };
  return flowNode;
}

function makeFilters(k: FieldKit): (o: Obj, limits: Limits) => HeaderFilter[] | undefined {
  return (o, limits) => {
    const list = k.own(o, 'filter');
    if (list === undefined) return undefined;
    if (!Array.isArray(list)) k.fail('filter', 'must be a list of { header, equals | prefix }');
    if (list.length > FLOW_LIMITS.topicFiltersMax) {
      k.fail('filter', `at most ${FLOW_LIMITS.topicFiltersMax} conditions (topicFiltersMax)`);
    }
    return list.map((f: unknown, i) => {
      const p = `filter[${i}]`;
      if (!k.isObj(f)) k.fail(p, 'must be { header, equals | prefix }');
      const header = k.str(f, 'header', `${p}.header`, limits.keyBytesMax, true);
      if (header === undefined) k.fail(`${p}.header`, 'is required');
      const eq = k.own(f, 'equals');
      const prefix = k.own(f, 'prefix');
      if ((eq === undefined) === (prefix === undefined)) k.fail(p, 'needs exactly one of equals and prefix');
      const value = eq ?? prefix;
      if (typeof value !== 'string' || value.length > limits.keyBytesMax) {
        k.fail(
          `${p}.${eq === undefined ? 'prefix' : 'equals'}`,
          `must be a string of at most ${limits.keyBytesMax} characters`,
        );
      }
      return eq === undefined ? { header, prefix: value } : { header, equals: value };
    });
  };
}

export function flowValidators(k: FieldKit): FlowValidators {
  const policy = makePolicy(k);
  const flowNode = makeFlowNode(k, policy);
  const filters = makeFilters(k);
  const topicOf = (o: Obj, l: Limits): { topic: string; queue: string } => ({
    topic: k.name(o, 'topic', 'topic', l),
    queue: k.name(o, 'queue', 'queue', l),
  });

  return {
    dependsOn: makeDependsOn(k, policy),
    flow: (o, l) => ({ type: 'flow', root: flowNode(k.own(o, 'root'), 'root', l, 0, { n: 0 }) }),
    cancelFlow: (o) => ({ type: 'cancelFlow', id: k.id(o, 'id', 'id') }),
    bindTopic: (o, l) => {
      const out: CommandOf<'bindTopic'> = { type: 'bindTopic', ...topicOf(o, l) };
      const f = filters(o, l);
      if (f !== undefined && f.length > 0) out.filter = f;
      return out;
    },
    unbindTopic: (o, l) => ({ type: 'unbindTopic', ...topicOf(o, l) }),
    publish: (o, l) => {
      const task = k.own(o, 'task');
      if (k.isObj(task) && k.own(task, 'dependsOn') !== undefined)
        k.fail('task.dependsOn', 'is not allowed in a publish');
      if (k.isObj(task) && k.own(task, 'dedup') !== undefined) k.fail('task.dedup', 'is not allowed in a publish');
      return { type: 'publish', topic: k.name(o, 'topic', 'topic', l), task: k.taskSpec(task, 'task', l) };
    },
  };
}
