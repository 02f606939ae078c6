// Admin work in capped steps against a model (architecture issue §5): purge, delete, pause /
// resume and redrive without ids, run with a tiny adminTasksPerEntryMax and driven to their end by
// advanceTime entries (sometimes through a snapshot taken mid-job), leave exactly the tasks the
// model says — the model does each command whole, in one step.
import { asLogIndex } from '../../../src/protocol/ids.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Answer, Command, LeasedTask } from '../../../src/protocol/index.js';
import { encodeEnvelope } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { STATE_NAMES } from '../../../src/statemachine/records.js';
import { WALL0 } from './harness.js';

interface MTask {
  id: number;
  q: string;
  state: 'waiting' | 'dead' | 'cancelled';
  reason?: string;
  dlOf?: { id: number; queue: string };
  dlId?: number;
  redrivenTo?: number;
  redrivenFrom?: number;
}

interface MQueue {
  paused: boolean;
  dlq: string | null;
}

/** The model: every command done whole. */
class Model {
  readonly tasks = new Map<number, MTask>();
  readonly queues = new Map<string, MQueue>([
    ['a', { paused: false, dlq: 'dlq' }],
    ['b', { paused: false, dlq: null }],
  ]);
  nextId = 1;

  private queue(name: string): MQueue {
    const q = this.queues.get(name) ?? { paused: false, dlq: null };
    this.queues.set(name, q);
    return q;
  }

  private add(q: string, extra: Partial<MTask> = {}): MTask {
    this.queue(q);
    const t: MTask = { id: this.nextId++, q, state: 'waiting', ...extra };
    this.tasks.set(t.id, t);
    return t;
  }

  private of(q: string): MTask[] {
    return [...this.tasks.values()].filter((t) => t.q === q).sort((x, y) => x.id - y.id);
  }

  enqueue(q: string, n: number): number[] {
    return Array.from({ length: n }, () => this.add(q).id);
  }

  lease(q: string, max: number): number[] {
    const mq = this.queues.get(q);
    if (mq === undefined || mq.paused) return [];
    return this.of(q)
      .filter((t) => t.state === 'waiting')
      .slice(0, max)
      .map((t) => t.id);
  }

  kill(id: number): void {
    const t = this.tasks.get(id) as MTask;
    t.state = 'dead';
    const target = (this.queues.get(t.q) as MQueue).dlq;
    if (target === null || target === t.q) return;
    t.dlId = this.add(target, { dlOf: { id: t.id, queue: t.q } }).id;
  }

  purge(q: string): string {
    if (!this.queues.has(q)) return 'NOT_FOUND';
    for (const t of this.of(q)) if (t.state === 'waiting') Object.assign(t, { state: 'cancelled', reason: 'purged' });
    return 'OK';
  }

  remove(q: string, force: boolean): string {
    if (!this.queues.has(q)) return 'NOT_FOUND';
    if (!force && this.of(q).some((t) => t.state === 'waiting')) return 'FAILED_PRECONDITION';
    for (const t of this.of(q)) this.tasks.delete(t.id);
    this.queues.delete(q);
    return 'OK';
  }

  pause(q: string, on: boolean): string {
    const mq = this.queues.get(q);
    if (mq === undefined) return 'NOT_FOUND';
    mq.paused = on;
    return 'OK';
  }

  redrive(q: string, max: number, toQueue?: string): { code: string; items: { from: string; id: string }[] } {
    if (!this.queues.has(q)) return { code: 'NOT_FOUND', items: [] };
    const redrivable = (t: MTask): boolean =>
      t.state === 'dead' ? t.dlId === undefined && t.redrivenTo === undefined : t.dlOf !== undefined;
    const picked = this.of(q).filter(redrivable).slice(0, max);
    const items = picked.map((t) => {
      const n = this.add(toQueue ?? t.dlOf?.queue ?? q, { redrivenFrom: t.id });
      if (t.state === 'dead') t.redrivenTo = n.id;
      else Object.assign(t, { state: 'cancelled', reason: 'redriven' });
      return { from: String(t.id), id: String(n.id) };
    });
    return { code: 'OK', items };
  }
}

type Op =
  | { k: 'enq'; q: string; n: number }
  | { k: 'kill'; q: string; n: number }
  | { k: 'purge'; q: string }
  | { k: 'delete'; q: string; force: boolean }
  | { k: 'pause'; q: string; on: boolean }
  | { k: 'redrive'; q: string; max: number; to: boolean };

const QUEUES = ['a', 'b', 'dlq'];
const qArb = fc.constantFrom(...QUEUES);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('enq' as const), q: qArb, n: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('kill' as const), q: qArb, n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('purge' as const), q: qArb }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('delete' as const), q: qArb, force: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pause' as const), q: qArb, on: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('redrive' as const),
      q: qArb,
      max: fc.integer({ min: 1, max: 12 }),
      to: fc.boolean(),
    }),
  },
);

/** The machine under test, replaced by a restored copy when a step says so. */
class World {
  sm: QueueStateMachine;
  index = 0;
  restores = 0;

  constructor(readonly cap: number) {
    this.sm = new QueueStateMachine({ limits: { adminTasksPerEntryMax: cap } });
  }

  run(cmd: Command): Answer {
    const data = encodeEnvelope({ v: 1, mono: 1000, wall: WALL0, cmds: [{ session: null, seq: 0, cmd }] });
    const out = this.sm.apply(asLogIndex(++this.index), data);
    return (out[0] as { answer: Answer }).answer;
  }

  /** advanceTime until no job is left; through a snapshot of the half-done work when `viaSnapshot`. */
  drain(viaSnapshot: boolean): void {
    if (viaSnapshot && this.sm.state.jobs.length > 0) {
      const copy = new QueueStateMachine({ limits: { adminTasksPerEntryMax: this.cap } });
      copy.restore([...this.sm.snapshot()]);
      expect(copy.digest()).toBe(this.sm.digest());
      this.sm = copy;
      this.restores++;
    }
    for (let i = 0; i < 500 && this.sm.state.jobs.length > 0; i++) {
      expect(this.sm.nextDue().mono).not.toBeNull(); // the leader is told to propose advanceTime
      this.run({ type: 'advanceTime' });
    }
    expect(this.sm.state.jobs).toHaveLength(0);
  }
}

const codeOf = (a: Answer): string => (a.ok ? 'OK' : a.error.code);

function step(w: World, m: Model, op: Op, viaSnapshot: boolean): void {
  switch (op.k) {
    case 'enq': {
      const a = w.run({
        type: 'enqueue',
        queue: op.q,
        tasks: Array.from({ length: op.n }, () => ({ payload: new Uint8Array([1]) })),
      });
      const ids = a.ok ? (a.value as { items: { id: string }[] }).items.map((x) => Number(x.id)) : [];
      expect(ids).toEqual(m.enqueue(op.q, op.n));
      return;
    }
    case 'kill': {
      const a = w.run({ type: 'lease', queue: op.q, workerId: 'w', max: op.n, leaseMs: 600_000 });
      const leased = a.ok ? (a.value as { tasks: LeasedTask[] }).tasks : [];
      expect(leased.map((t) => Number(t.id))).toEqual(m.lease(op.q, op.n));
      for (const t of leased) {
        expect(codeOf(w.run({ type: 'nack', id: t.id, token: t.token, error: 'x', dead: true }))).toBe('OK');
        m.kill(Number(t.id));
      }
      return;
    }
    case 'purge':
      expect(codeOf(w.run({ type: 'purgeQueue', queue: op.q }))).toBe(m.purge(op.q));
      break;
    case 'delete':
      expect(codeOf(w.run({ type: 'deleteQueue', queue: op.q, force: op.force }))).toBe(m.remove(op.q, op.force));
      break;
    case 'pause':
      expect(codeOf(w.run({ type: op.on ? 'pauseQueue' : 'resumeQueue', queue: op.q }))).toBe(m.pause(op.q, op.on));
      break;
    case 'redrive': {
      const cmd = { type: 'redrive', queue: op.q, max: op.max, ...(op.to ? { toQueue: 'b' } : {}) } as Command;
      const a = w.run(cmd);
      const want = m.redrive(op.q, op.max, op.to ? 'b' : undefined);
      expect(codeOf(a)).toBe(want.code);
      // The command's own entry moves a prefix of what the whole redrive moves; the job the rest.
      const got = a.ok ? (a.value as { items: { from: string; id: string }[] }).items : [];
      expect(got).toEqual(want.items.slice(0, got.length));
      break;
    }
  }
  w.drain(viaSnapshot);
}

function expectSame(w: World, m: Model): void {
  const st = w.sm.state;
  expect([...st.queues.keys()].sort()).toEqual([...m.queues.keys()].sort());
  const got = [...st.tasks.values()].map((t) => ({
    id: t.id,
    q: t.q.name,
    state: STATE_NAMES[t.state],
    reason: STATE_NAMES[t.state] === 'cancelled' ? t.reason : undefined,
    dlOf: t.x?.deadLetterOf?.id,
    dlId: t.x?.deadLetterId,
    redrivenTo: t.x?.redrivenTo,
    redrivenFrom: t.x?.redrivenFrom,
  }));
  const want = [...m.tasks.values()]
    .sort((x, y) => x.id - y.id)
    .map((t) => ({
      id: t.id,
      q: t.q,
      state: t.state,
      reason: t.state === 'cancelled' ? t.reason : undefined,
      dlOf: t.dlOf?.id,
      dlId: t.dlId,
      redrivenTo: t.redrivenTo,
      redrivenFrom: t.redrivenFrom,
    }));
  expect(got).toEqual(want);
}

describe('statemachine - admin work in capped steps against a model', () => {
  it('purge / delete / pause / redrive-all with caps of 1..4 end exactly where the whole command would', () => {
    let restores = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.tuple(opArb, fc.boolean()), { minLength: 1, maxLength: 60 }),
        (cap, ops) => {
          const w = new World(cap);
          expect(codeOf(w.run({ type: 'createQueue', queue: 'a', settings: { deadLetterQueue: 'dlq' } }))).toBe('OK');
          expect(codeOf(w.run({ type: 'createQueue', queue: 'b' }))).toBe('OK');
          const m = new Model();
          for (const [op, viaSnapshot] of ops) {
            step(w, m, op, viaSnapshot);
            expectSame(w, m);
          }
          expect(w.sm.counters.internalErrors).toBe(0);
          restores += w.restores;
        },
      ),
      { numRuns: 150 },
    );
    expect(restores).toBeGreaterThan(0); // the snapshot path was taken mid-job
  });
});
