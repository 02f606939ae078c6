// Workflows and fan-out in the state machine (docs/workflows.md): dependencies, failure policies,
// flows (all or nothing, cancelFlow), topics (bind, filters, publish all or nothing, idempotency).
import { describe, expect, it } from 'vitest';
import type { Command, FlowNodeSpec, LeasedTask, TaskView } from '../../../src/protocol/index.js';
import { decodeMultiple, encode } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { Driver, bytes, code } from './harness.js';

type Leased = { tasks: LeasedTask[] };
const enq = (queue: string, tasks: Record<string, unknown>[]): Command =>
  ({ type: 'enqueue', queue, tasks: tasks.map((t) => ({ payload: bytes(1), ...t })) }) as Command;
const lease = (queue: string, max = 10): Command => ({ type: 'lease', queue, workerId: 'w1', max });

function ids(d: Driver, cmd: Command): string[] {
  return d.value<{ items: { id: string }[] }>(cmd).items.map((i) => i.id);
}
function state(d: Driver, id: string): string {
  return d.read<TaskView>({ type: 'task', id }).state;
}
function leaseAll(d: Driver, queue: string): LeasedTask[] {
  return d.value<Leased>(lease(queue)).tasks;
}
function ack(d: Driver, t: LeasedTask, result?: Uint8Array): void {
  const r = d.value<{ items: { ok: boolean }[] }>({ type: 'ack', items: [{ id: t.id, token: t.token, result }] });
  expect(r.items[0]?.ok).toBe(true);
}

describe('statemachine - dependencies', () => {
  it('a task waits in waiting-children, not leasable, until every dependency completed', () => {
    const d = new Driver();
    const [a, b] = ids(d, enq('work', [{}, {}]));
    const [c] = ids(d, enq('join', [{ dependsOn: [{ id: a }, { id: b }] }]));
    expect(state(d, c as string)).toBe('waiting-children');
    expect(leaseAll(d, 'join')).toHaveLength(0);
    const [ta, tb] = leaseAll(d, 'work') as [LeasedTask, LeasedTask];
    ack(d, ta, bytes(5));
    expect(state(d, c as string)).toBe('waiting-children');
    ack(d, tb);
    expect(state(d, c as string)).toBe('waiting');
    const v = d.read<TaskView>({ type: 'task', id: c as string });
    expect(v.dependsOn).toEqual([
      { id: a, policy: 'fail', ended: 'completed' },
      { id: b, policy: 'fail', ended: 'completed' },
    ]);
    expect(d.read<TaskView>({ type: 'task', id: a as string }).dependants).toEqual([c]);
    expect(leaseAll(d, 'join').map((t) => t.id)).toEqual([c]);
  });

  it('a dependency that must exist: NOT_FOUND naming the field; one already failed on a fail edge: refused', () => {
    const d = new Driver();
    const missing = d.run(enq('q', [{}, { dependsOn: [{ id: '99' }] }]));
    expect(!missing.ok && [missing.error.code, missing.error.field]).toEqual(['NOT_FOUND', 'tasks[1].dependsOn[0].id']);
    // All or nothing: the first task was not created either (nor its queue).
    expect(code(d.sm.read({ type: 'stats', queue: 'q' }).answer)).toBe('NOT_FOUND');
    const [a] = ids(d, enq('q', [{}]));
    d.value({ type: 'cancel', id: a as string });
    const failed = d.run(enq('q', [{ dependsOn: [{ id: a }] }]));
    expect(!failed.ok && failed.error.reason).toBe('dependency_failed');
    // ignore / remove edges on an already failed dependency resolve at once.
    const [x] = ids(d, enq('q', [{ dependsOn: [{ id: a, policy: 'ignore' }] }]));
    expect(state(d, x as string)).toBe('waiting');
  });

  it('failure policies: fail dead-letters (dependency_failed, cascading), ignore continues, remove drops the edge', () => {
    const d = new Driver();
    d.value({ type: 'createQueue', queue: 'p', settings: { deadLetterQueue: 'dlq' } });
    const [a] = ids(d, enq('w', [{ maxAttempts: 1 }]));
    const [f, i, r] = ids(
      d,
      enq('p', [
        { dependsOn: [{ id: a }] },
        { dependsOn: [{ id: a, policy: 'ignore' }] },
        { dependsOn: [{ id: a, policy: 'remove' }] },
      ]),
    );
    const [g] = ids(d, enq('p', [{ dependsOn: [{ id: f }] }]));
    const [ta] = leaseAll(d, 'w') as [LeasedTask];
    expect(d.value({ type: 'nack', id: ta.id, token: ta.token, error: 'boom' })).toEqual({ state: 'dead' });
    const vf = d.read<TaskView>({ type: 'task', id: f as string });
    expect([vf.state, vf.reason]).toEqual(['dead', 'dependency_failed']);
    expect(vf.deadLetterId).toBeDefined();
    expect([state(d, g as string), d.read<TaskView>({ type: 'task', id: g as string }).reason]).toEqual([
      'dead',
      'dependency_failed',
    ]);
    expect(state(d, i as string)).toBe('waiting');
    expect(d.read<TaskView>({ type: 'task', id: i as string }).dependsOn).toEqual([
      { id: a, policy: 'ignore', ended: 'dead' },
    ]);
    expect(d.read<TaskView>({ type: 'task', id: r as string }).dependsOn).toEqual([
      { id: a, policy: 'remove', ended: 'dead', removed: true },
    ]);
  });

  it('cancelled and expired dependencies count as failed', () => {
    const d = new Driver();
    const [a, b] = ids(d, enq('w', [{}, { ttlMs: 1000 }]));
    const [x, y] = ids(d, enq('p', [{ dependsOn: [{ id: a }] }, { dependsOn: [{ id: b }] }]));
    d.value({ type: 'cancel', id: a as string });
    expect(state(d, x as string)).toBe('dead');
    d.entry([], 1000);
    expect(state(d, b as string)).toBe('expired');
    expect(state(d, y as string)).toBe('dead');
  });

  it('a pending task has at most dependantsMax dependants: RESOURCE_EXHAUSTED naming the field', () => {
    const d = new Driver();
    const [gate] = ids(d, enq('g', [{}]));
    for (let i = 0; i < 10; i++)
      ids(
        d,
        enq(
          'q',
          Array.from({ length: 100 }, () => ({ dependsOn: [{ id: gate }] })),
        ),
      );
    const over = d.run(enq('q', [{}, { dependsOn: [{ id: gate }] }]));
    expect(!over.ok && [over.error.code, over.error.limit, over.error.field]).toEqual([
      'RESOURCE_EXHAUSTED',
      'dependantsMax',
      'tasks[1].dependsOn[0].id',
    ]);
  });

  it('a dropOldest overflow never drops a dependency of the enqueue that overflows', () => {
    const d = new Driver();
    d.value({ type: 'createQueue', queue: 'q', settings: { maxWaiting: 2, overflow: 'dropOldest' } });
    const [a, b] = ids(d, enq('q', [{}, {}]));
    // Full: the new task would drop the oldest waiting task, a — which it depends on.
    const [x] = ids(d, enq('q', [{ dependsOn: [{ id: a }] }]));
    expect(state(d, a as string)).toBe('waiting');
    expect(state(d, b as string)).toBe('dead');
    expect(state(d, x as string)).toBe('waiting-children');
  });

  it('a TTL applies once released: released past it, the task expires instead of running', () => {
    const d = new Driver();
    const [a] = ids(d, enq('w', [{}]));
    const [x] = ids(d, enq('p', [{ dependsOn: [{ id: a }], ttlMs: 1000 }]));
    d.entry([], 2000);
    expect(state(d, x as string)).toBe('waiting-children');
    ack(d, leaseAll(d, 'w')[0] as LeasedTask);
    expect(state(d, x as string)).toBe('waiting');
    expect(leaseAll(d, 'p')).toHaveLength(0);
    expect(state(d, x as string)).toBe('expired');
  });

  it('a long chain failing cascades in one entry without recursion', () => {
    const d = new Driver();
    let prev = ids(d, enq('c', [{}]))[0] as string;
    const first = prev;
    for (let i = 0; i < 3000; i++) prev = ids(d, enq('c', [{ dependsOn: [{ id: prev }] }]))[0] as string;
    d.value({ type: 'cancel', id: first });
    expect(state(d, prev)).toBe('dead');
  });
});

const node = (queue: string, children: FlowNodeSpec[] = [], extra: Partial<FlowNodeSpec> = {}): FlowNodeSpec => ({
  queue,
  task: { payload: bytes(2) },
  ...extra,
  ...(children.length > 0 ? { children } : {}),
});

describe('statemachine - flows', () => {
  it('a flow creates a tree across queues in one command; the parent runs after its children', () => {
    const d = new Driver();
    const root = node('report', [node('fetch', [node('auth')]), node('fetch')]);
    const { ids: all } = d.value<{ ids: string[] }>({ type: 'flow', root });
    expect(all).toHaveLength(4);
    const [r, f1, au, f2] = all as [string, string, string, string];
    expect(Number(r)).toBeGreaterThan(Math.max(Number(f1), Number(au), Number(f2)));
    expect([state(d, r), state(d, f1), state(d, au), state(d, f2)]).toEqual([
      'waiting-children',
      'waiting-children',
      'waiting',
      'waiting',
    ]);
    expect(d.read<TaskView>({ type: 'task', id: au }).flow).toBe(r);
    for (const t of leaseAll(d, 'auth')) ack(d, t);
    for (const t of leaseAll(d, 'fetch')) ack(d, t);
    expect(state(d, r)).toBe('waiting');
  });

  it('a flow is all or nothing: one full queue refuses the whole tree, changing nothing', () => {
    const d = new Driver();
    d.value({ type: 'createQueue', queue: 'small', settings: { maxLength: 1 } });
    const a = d.run({ type: 'flow', root: node('big', [node('small'), node('small')]) });
    expect(code(a)).toBe('RESOURCE_EXHAUSTED');
    d.run({ type: 'advanceTime' });
    const other = new Driver();
    other.value({ type: 'createQueue', queue: 'small', settings: { maxLength: 1 } });
    other.run({ type: 'advanceTime' });
    other.run({ type: 'advanceTime' });
    expect(d.sm.digest()).toBe(other.sm.digest());
  });

  it('caps name the field: depth, children per parent, tasks per flow, no idempotency keys', () => {
    const d = new Driver();
    let deep = node('q');
    for (let i = 0; i < 11; i++) deep = node('q', [deep]);
    const a = d.run({ type: 'flow', root: deep });
    expect(!a.ok && a.error.message).toContain('flowDepthMax');
    const wide = node(
      'q',
      Array.from({ length: 101 }, () => node('q')),
    );
    const b = d.run({ type: 'flow', root: wide });
    expect(!b.ok && [b.error.field, b.error.message.includes('flowChildrenMax')]).toEqual(['root.children', true]);
    const many = node(
      'q',
      Array.from({ length: 100 }, () =>
        node(
          'q',
          Array.from({ length: 10 }, () => node('q')),
        ),
      ),
    );
    const c = d.run({ type: 'flow', root: many });
    expect(!c.ok && c.error.message).toContain('flowTasksMax');
    const keyed = d.run({ type: 'flow', root: { queue: 'q', task: { payload: bytes(1), idempotencyKey: 'k' } } });
    expect(!keyed.ok && keyed.error.field).toBe('root.task.idempotencyKey');
  });

  it('cancelFlow cancels pending tasks and asks running ones to stop; the parent is not dead-lettered', () => {
    const d = new Driver();
    const { ids: all } = d.value<{ ids: string[] }>({ type: 'flow', root: node('p', [node('c'), node('c')]) });
    const [r, c1, c2] = all as [string, string, string];
    const [running] = d.value<Leased>(lease('c', 1)).tasks as [LeasedTask];
    expect(d.value({ type: 'cancelFlow', id: r })).toEqual({ cancelled: 2, cancelRequested: 1 });
    expect(d.read<TaskView>({ type: 'task', id: r }).reason).toBe('flow_cancelled');
    const pending = running.id === c1 ? c2 : c1;
    expect(state(d, pending)).toBe('cancelled');
    expect(d.read<TaskView>({ type: 'task', id: running.id }).cancelRequested).toBe(true);
    expect(code(d.run({ type: 'cancelFlow', id: c1 }))).toBe('FAILED_PRECONDITION');
  });
});

describe('statemachine - topics', () => {
  it('publish enqueues one task per matching binding (equality and prefix), in one command', () => {
    const d = new Driver();
    d.value({ type: 'bindTopic', topic: 'orders', queue: 'billing' });
    d.value({ type: 'bindTopic', topic: 'orders', queue: 'eu', filter: [{ header: 'region', prefix: 'eu-' }] });
    d.value({ type: 'bindTopic', topic: 'orders', queue: 'vip', filter: [{ header: 'tier', equals: 'gold' }] });
    type Pub = { items: { queue: string; id: string; deduplicated: boolean }[] };
    const a = d.value<Pub>({
      type: 'publish',
      topic: 'orders',
      task: { payload: bytes(1), headers: { region: 'eu-west', tier: 'silver' } },
    });
    expect(a.items.map((i) => i.queue)).toEqual(['billing', 'eu']);
    const b = d.value<Pub>({
      type: 'publish',
      topic: 'orders',
      task: { payload: bytes(1), headers: { tier: 'gold' } },
    });
    expect(b.items.map((i) => i.queue)).toEqual(['billing', 'vip']);
    expect(d.value({ type: 'unbindTopic', topic: 'orders', queue: 'billing' })).toEqual({ removed: true });
    const c = d.value<Pub>({ type: 'publish', topic: 'orders', task: { payload: bytes(1) } });
    expect(c.items).toEqual([]);
  });

  it('an idempotency key makes a repeat publish answer the same tasks', () => {
    const d = new Driver();
    for (const q of ['a', 'b']) d.value({ type: 'bindTopic', topic: 't', queue: q });
    const pub: Command = { type: 'publish', topic: 't', task: { payload: bytes(1), idempotencyKey: 'k1' } };
    const first = d.value<{ items: { id: string; deduplicated: boolean }[] }>(pub);
    const again = d.value<{ items: { id: string; deduplicated: boolean }[] }>(pub);
    expect(again.items.map((i) => i.id)).toEqual(first.items.map((i) => i.id));
    expect(again.items.every((i) => i.deduplicated)).toBe(true);
  });

  it('a publish is all or nothing: one full queue refuses every queue', () => {
    const d = new Driver();
    d.value({ type: 'createQueue', queue: 'full', settings: { maxLength: 1 } });
    d.value(enq('full', [{}]));
    for (const q of ['a', 'full']) d.value({ type: 'bindTopic', topic: 't', queue: q });
    expect(code(d.run({ type: 'publish', topic: 't', task: { payload: bytes(1) } }))).toBe('RESOURCE_EXHAUSTED');
    expect(code(d.sm.read({ type: 'stats', queue: 'a' }).answer)).toBe('NOT_FOUND');
  });

  it('a raftq-sm/4 snapshot (before workflows) still restores, to the same digest', () => {
    const d = new Driver();
    d.value(enq('q', [{}, { priority: 2 }]));
    d.value(lease('q', 1));
    const v5 = [...d.sm.snapshot()].flatMap((c) => [...decodeMultiple(c)]) as unknown[][];
    const v4 = v5.map((v) => (v[0] === 'head' ? ['head', 'raftq-sm/4', v[2]] : v));
    const r = new QueueStateMachine();
    r.restore(v4.map((v) => encode(v)));
    expect(r.digest()).toBe(d.sm.digest());
    expect(v5[0]?.[1]).toBe('raftq-sm/5');
  });

  it('bindings are in the digest and the snapshot', () => {
    const d = new Driver();
    d.value({ type: 'bindTopic', topic: 't', queue: 'a', filter: [{ header: 'h', equals: 'v' }] });
    const r = new QueueStateMachine();
    r.restore([...d.sm.snapshot()]);
    expect(r.digest()).toBe(d.sm.digest());
    const e = new Driver();
    e.run({ type: 'advanceTime' });
    expect(e.sm.digest()).not.toBe(d.sm.digest());
  });
});
