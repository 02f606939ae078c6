// `raftq flows show ID` (a task's dependency tree with each task's state) and `raftq topics
// bind|unbind|publish` (docs/workflows.md).
import { Command } from 'commander';
import type { Client } from '../client/client.js';
import { NotFoundError } from '../client/errors.js';
import type { TopicFilter } from '../client/topics.js';
import type { DependencyPolicy, TaskState } from '../protocol/commands.js';
import {
  action,
  ClientUsageError,
  cliOutput,
  intArg,
  parseJson,
  print,
  withCommon,
  type Common,
  type SetCode,
} from './cli-common.js';

/** One task of a tree as shown: its edge policy to its parent, and its children. */
export interface FlowNodeView {
  id: string;
  queue: string | null;
  state: TaskState | 'removed';
  policy?: DependencyPolicy;
  reason?: string;
  cancelRequested?: boolean;
  children: FlowNodeView[];
}

/** Trees deeper or larger than a flow can be (an enqueue chain) are cut, and say so. */
const SHOW_DEPTH_MAX = 12;
const SHOW_TASKS_MAX = 1000;

async function nodeOf(
  client: Client,
  id: string,
  depth: number,
  budget: { left: number },
  ended?: TaskState,
): Promise<FlowNodeView> {
  budget.left -= 1;
  let task;
  try {
    task = (await client.read('GetTask', { type: 'task', id })).task;
  } catch (e) {
    // Removed by retention: what its dependant's edge recorded is all that is left.
    if (e instanceof NotFoundError && depth > 0) return { id, queue: null, state: ended ?? 'removed', children: [] };
    throw e;
  }
  const view: FlowNodeView = { id, queue: task.queue, state: task.state, children: [] };
  if (task.reason !== undefined) view.reason = task.reason;
  if (task.cancelRequested === true) view.cancelRequested = true;
  for (const d of task.dependsOn ?? []) {
    if (depth >= SHOW_DEPTH_MAX || budget.left <= 0) break;
    const child = await nodeOf(client, d.id, depth + 1, budget, d.ended);
    child.policy = d.policy;
    view.children.push(child);
  }
  return view;
}

function line(n: FlowNodeView): string {
  const extra = [
    n.policy !== undefined && n.policy !== 'fail' ? `[${n.policy}]` : '',
    n.reason !== undefined ? `(${n.reason})` : '',
    n.cancelRequested === true ? 'cancel-requested' : '',
  ].filter((s) => s !== '');
  return [n.id, n.queue ?? '-', n.state, ...extra].join(' ');
}

/** The tree as text: one task a line, children indented under their parent. */
export function renderTree(root: FlowNodeView): string {
  const out: string[] = [line(root)];
  const walk = (n: FlowNodeView, prefix: string): void => {
    n.children.forEach((c, i) => {
      const last = i === n.children.length - 1;
      out.push(`${prefix}${last ? '└─ ' : '├─ '}${line(c)}`);
      walk(c, prefix + (last ? '   ' : '│  '));
    });
  };
  walk(root, '');
  return `${out.join('\n')}\n`;
}

function flowsCommand(setCode: SetCode): Command {
  const flows = new Command('flows').description('workflows: dependency trees of tasks');
  flows.addCommand(
    withCommon(new Command('show'))
      .description('the tree under a task (a flow root, or any task with dependencies) with each state')
      .argument('<id>')
      .action(
        action(setCode, async (client, o, id: string) => {
          const tree = await nodeOf(client, id, 0, { left: SHOW_TASKS_MAX });
          print(o, tree, () => renderTree(tree));
        }),
      ),
  );
  return flows;
}

const repeatable = (v: string, acc: string[] = []): string[] => [...acc, v];

function pairs(flag: string, list: string[] | undefined): [string, string][] {
  return (list ?? []).map((p) => {
    const i = p.indexOf('=');
    if (i <= 0) throw new ClientUsageError(`${flag}: ${JSON.stringify(p)} is not header=value`);
    return [p.slice(0, i), p.slice(i + 1)];
  });
}

interface BindFlags extends Common {
  equals?: string[];
  prefix?: string[];
}

interface PublishFlags extends Common {
  header?: string[];
  idempotencyKey?: string;
  priority?: string;
  raw?: boolean;
}

function publishCommand(setCode: SetCode): Command {
  return withCommon(new Command('publish'))
    .description('one task in every queue bound to TOPIC whose filter matches; PAYLOAD is JSON, or stdin')
    .argument('<topic>')
    .argument('[payload]')
    .option('--header <key=value>', 'a task header, matched by the filters (repeatable)', repeatable)
    .option('--idempotency-key <key>', 'a repeat publish answers the same tasks')
    .option('--priority <n>')
    .option('--raw', 'send the payload bytes as they are instead of parsing JSON')
    .action(
      action(setCode, async (client, o, topic: string, payloadArg: string | undefined) => {
        const f = o as PublishFlags;
        const text = payloadArg === undefined || payloadArg === '-' ? await cliOutput.stdin() : Buffer.from(payloadArg);
        const payload = f.raw === true ? new Uint8Array(text) : parseJson('payload', text.toString('utf8'));
        const headers = Object.fromEntries(pairs('--header', f.header));
        const options: Record<string, unknown> = {};
        if (Object.keys(headers).length > 0) options['headers'] = headers;
        if (f.idempotencyKey !== undefined) options['idempotencyKey'] = f.idempotencyKey;
        const priority = intArg('--priority', f.priority, -1_000_000);
        if (priority !== undefined) options['priority'] = priority;
        const sent = await client.topic(topic).publish(payload, options);
        print(o, { topic, items: sent }, () =>
          sent.length === 0
            ? `no queue of ${topic} matched\n`
            : sent.map((s) => `${s.queue} ${s.id}${s.deduplicated ? ' (deduplicated)' : ''}\n`).join(''),
        );
      }),
    );
}

function topicsCommand(setCode: SetCode): Command {
  const topics = new Command('topics').description('fan-out: bind queues to topics and publish');
  topics.addCommand(
    withCommon(new Command('bind'))
      .description('bind QUEUE to TOPIC, with header conditions that must all hold (none: every publish)')
      .argument('<topic>')
      .argument('<queue>')
      .option('--equals <header=value>', 'the header equals the value (repeatable)', repeatable)
      .option('--prefix <header=prefix>', 'the header starts with the prefix (repeatable)', repeatable)
      .action(
        action(setCode, async (client, o, topic: string, queue: string) => {
          const f = o as BindFlags;
          const filter: TopicFilter = {};
          for (const [h, v] of pairs('--equals', f.equals)) filter[h] = v;
          for (const [h, v] of pairs('--prefix', f.prefix)) {
            if (h in filter) throw new ClientUsageError(`--prefix: header ${h} already has a condition`);
            filter[h] = { prefix: v };
          }
          await client.topic(topic).bind(queue, { filter });
          print(o, { topic, queue, filter }, () => `${queue} bound to ${topic}\n`);
        }),
      ),
  );
  topics.addCommand(
    withCommon(new Command('unbind'))
      .argument('<topic>')
      .argument('<queue>')
      .action(
        action(setCode, async (client, o, topic: string, queue: string) => {
          await client.topic(topic).unbind(queue);
          print(o, { topic, queue }, () => `${queue} unbound from ${topic}\n`);
        }),
      ),
  );
  topics.addCommand(publishCommand(setCode));
  return topics;
}

/** `raftq flows` and `raftq topics`. */
export function workflowCommands(setCode: SetCode): Command[] {
  return [flowsCommand(setCode), topicsCommand(setCode)];
}
