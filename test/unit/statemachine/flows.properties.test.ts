// Property tests of workflows against a small model (docs/workflows.md): random dependency graphs
// (every dependency exists first) under random completions, failures and cancels; a dependant is
// released only when every dependency ended and none failed on a `fail` edge; `fail` edges
// dead-letter it (cascading), `ignore` and `remove` let it go on. A flow is all or nothing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Command, DependencyPolicy, FlowNodeSpec, LeasedTask, TaskView } from '../../../src/protocol/index.js';
import { Driver, bytes } from './harness.js';

type MState = 'waiting' | 'leased' | 'waiting-children' | 'completed' | 'dead' | 'cancelled';
interface MTask {
  id: string;
  state: MState;
  deps: { id: string; policy: DependencyPolicy }[];
}

const TERMINAL: MState[] = ['completed', 'dead', 'cancelled'];

/** The model: plain scans, resolved to a fixpoint after every step. */
class Model {
  readonly tasks = new Map<string, MTask>();

  settle(): void {
    for (let changed = true; changed;) {
      changed = false;
      for (const t of this.tasks.values()) {
        if (t.state !== 'waiting-children') continue;
        const ends = t.deps.map((d) => ({ d, s: (this.tasks.get(d.id) as MTask).state }));
        if (ends.some(({ d, s }) => d.policy === 'fail' && (s === 'dead' || s === 'cancelled'))) {
          t.state = 'dead';
          changed = true;
        } else if (ends.every(({ s }) => TERMINAL.includes(s))) {
          t.state = 'waiting';
          changed = true;
        }
      }
    }
  }
}

type Step =
  | { k: 'add'; deps: { pick: number; policy: DependencyPolicy }[] }
  | { k: 'run'; pick: number; end: 'ack' | 'nack' | 'cancel' }
  | { k: 'cancel'; pick: number };

const policy = fc.constantFrom<DependencyPolicy>('fail', 'ignore', 'remove');
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('add' as const),
      deps: fc.array(fc.record({ pick: fc.nat(), policy }), { maxLength: 3 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('run' as const),
      pick: fc.nat(),
      end: fc.constantFrom<'ack' | 'nack' | 'cancel'>('ack', 'ack', 'nack', 'cancel'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('cancel' as const), pick: fc.nat() }) },
);

function pickOf<T>(xs: T[], n: number): T | undefined {
  return xs.length === 0 ? undefined : xs[n % xs.length];
}

function apply(d: Driver, m: Model, s: Step): void {
  const all = [...m.tasks.values()];
  if (s.k === 'add') {
    const deps: { id: string; policy: DependencyPolicy }[] = [];
    for (const x of s.deps) {
      const t = pickOf(all, x.pick);
      if (t !== undefined && !deps.some((e) => e.id === t.id)) deps.push({ id: t.id, policy: x.policy });
    }
    const spec = { payload: bytes(1), maxAttempts: 1, ...(deps.length > 0 ? { dependsOn: deps } : {}) };
    const a = d.run({ type: 'enqueue', queue: 'q', tasks: [spec] });
    // Refused exactly when a dependency already failed on a fail edge.
    const refused = deps.some(
      (e) => e.policy === 'fail' && ['dead', 'cancelled'].includes(m.tasks.get(e.id)?.state ?? ''),
    );
    expect(a.ok).toBe(!refused);
    if (!a.ok) return;
    const id = (a.value as { items: { id: string }[] }).items[0]?.id as string;
    m.tasks.set(id, { id, state: deps.length > 0 ? 'waiting-children' : 'waiting', deps });
  } else if (s.k === 'run') {
    const ready = all.filter((t) => t.state === 'waiting');
    const t = pickOf(ready, s.pick);
    if (t === undefined) return;
    const leased = d.value<{ tasks: LeasedTask[] }>({ type: 'lease', queue: 'q', workerId: 'w', max: 1000 }).tasks;
    const lt = leased.find((x) => x.id === t.id) as LeasedTask;
    expect(lt, `task ${t.id} is leasable`).toBeDefined();
    // Give back every other lease.
    for (const o of leased) if (o.id !== t.id) d.value({ type: 'release', id: o.id, token: o.token });
    if (s.end === 'cancel') d.value({ type: 'cancel', id: t.id, running: true });
    const end: Command =
      s.end === 'nack'
        ? { type: 'nack', id: t.id, token: lt.token, dead: true }
        : { type: 'ack', items: [{ id: t.id, token: lt.token }] };
    d.value(end);
    t.state = s.end === 'ack' ? 'completed' : s.end === 'nack' ? 'dead' : 'cancelled';
  } else {
    const t = pickOf(
      all.filter((x) => x.state === 'waiting' || x.state === 'waiting-children'),
      s.pick,
    );
    if (t === undefined) return;
    d.value({ type: 'cancel', id: t.id });
    t.state = 'cancelled';
  }
  m.settle();
}

function agree(d: Driver, m: Model): void {
  for (const t of m.tasks.values()) {
    const v = d.read<TaskView>({ type: 'task', id: t.id });
    expect(v.state, `task ${t.id}`).toBe(t.state);
    if (t.state === 'dead' && t.deps.length > 0 && v.reason === 'dependency_failed') {
      // Dead by its dependencies only when one failed on a fail edge.
      expect(
        t.deps.some((e) => e.policy === 'fail' && ['dead', 'cancelled'].includes(m.tasks.get(e.id)?.state ?? '')),
      ).toBe(true);
    }
  }
  // Never leasable before its time: the ready set is exactly the model's waiting tasks.
  const list = d.read<{ items: TaskView[] }>({ type: 'list', queue: 'q', state: 'waiting', limit: 1000 });
  expect(list.items.map((x) => x.id).sort()).toEqual(
    [...m.tasks.values()]
      .filter((t) => t.state === 'waiting')
      .map((t) => t.id)
      .sort(),
  );
}

describe('statemachine - workflows against a model', () => {
  it('dependencies release only when all ended and none failed on a fail edge; policies as specified', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 5, maxLength: 60 }), (steps) => {
        const d = new Driver();
        d.value({ type: 'createQueue', queue: 'q' });
        const m = new Model();
        for (const s of steps) {
          apply(d, m, s);
          agree(d, m);
        }
      }),
      { numRuns: 150 },
    );
  });

  const nodeArb: fc.Arbitrary<FlowNodeSpec> = fc.letrec<{ node: FlowNodeSpec }>((tie) => ({
    node: fc.record(
      {
        queue: fc.constantFrom('a', 'b', 'c'),
        task: fc.constant({ payload: bytes(1) }),
        policy: policy,
        children: fc.array(tie('node'), { maxLength: 3, depthIdentifier: 'flow' }),
      },
      { requiredKeys: ['queue', 'task'] },
    ),
  })).node as fc.Arbitrary<FlowNodeSpec>;

  function size(n: FlowNodeSpec): number {
    return 1 + (n.children ?? []).reduce((s, c) => s + size(c), 0);
  }
  function perQueue(n: FlowNodeSpec, out: Map<string, number>): Map<string, number> {
    out.set(n.queue, (out.get(n.queue) ?? 0) + 1);
    for (const c of n.children ?? []) perQueue(c, out);
    return out;
  }

  it('a flow is all or nothing: every task or none, whatever the queue limits', () => {
    fc.assert(
      fc.property(nodeArb, fc.integer({ min: 1, max: 6 }), (root, cap) => {
        const d = new Driver();
        d.value({ type: 'createQueue', queue: 'b', settings: { maxLength: cap } });
        const tasksBefore = d.sm.state.tasks.size;
        const a = d.run({ type: 'flow', root });
        const fits = (perQueue(root, new Map()).get('b') ?? 0) <= cap;
        expect(a.ok).toBe(fits);
        expect(d.sm.state.tasks.size - tasksBefore).toBe(a.ok ? size(root) : 0);
        if (!a.ok) expect(d.sm.state.queues.size).toBe(1);
        if (a.ok) {
          const ids = (a.value as { ids: string[] }).ids;
          const root0 = d.read<TaskView>({ type: 'task', id: ids[0] as string });
          expect(root0.state).toBe((root.children ?? []).length > 0 ? 'waiting-children' : 'waiting');
          for (const id of ids) expect(d.read<TaskView>({ type: 'task', id }).flow).toBe(ids[0]);
        }
      }),
      { numRuns: 200 },
    );
  });
});
