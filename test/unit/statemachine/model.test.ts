// Model-based test: random command sequences (time jumps, groups, dead letters, sessions, retries)
// drive the state machine and the reference model; they must agree on every answer and the final state.
import { asLogIndex } from '../../../src/protocol/ids.js';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Answer, Command, SessionCommand, TaskView } from '../../../src/protocol/index.js';
import { encodeEnvelope } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { Model, normalize } from './model.js';
import type { MTask } from './model.js';
import { WALL0 } from './harness.js';

/** The client side: open sessions, their next seq and what was sent, for retries. */
interface ClientSession {
  id: string;
  nextSeq: number;
  floor: number;
  sent: Map<number, Command>;
}

interface World {
  model: Model;
  sessions: ClientSession[];
  mono: number;
  index: number;
  /** Outcome counts (`type:CODE`), to check that the generator reaches the interesting cases. */
  stats: Map<string, number>;
  /** Compare the full state after every step, not only the answers. */
  checkEveryStep: boolean;
}

type Op =
  | {
      k: 'enq';
      q: number;
      items: { prio: number; delay: number; group: number; key: number; byte: number; ttl: number; wall: number }[];
    }
  | { k: 'update'; pick: number; prio: number; mode: number; ms: number }
  | { k: 'purge'; q: number }
  | { k: 'lease'; q: number; max: number; leaseMs: number }
  | { k: 'ack'; pick: number; pick2: number; tok: number; two: boolean }
  | { k: 'nack'; pick: number; tok: number; mode: number; delayMs: number }
  | { k: 'release'; pick: number; tok: number }
  | { k: 'extend'; pick: number; tok: number; leaseMs: number; cp: boolean }
  | { k: 'cancel'; pick: number; running: boolean }
  | { k: 'promote'; pick: number }
  | { k: 'pause'; q: number; on: boolean }
  | { k: 'redrive'; q: number; pick: number; mode: number }
  | { k: 'advance' }
  | { k: 'open' };

interface Step {
  ops: Op[];
  dt: number;
  /** -1: sessionless. Otherwise which session; `retry` re-sends an earlier seq; floor bumps the floor. */
  sess: number;
  retry: number;
  floorBump: number;
}

const QUEUES = ['a', 'b', 'dlq'];
const TOKEN_MODES = 3;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('enq' as const),
      q: fc.nat(1),
      items: fc.array(
        fc.record({
          prio: fc.integer({ min: -1, max: 2 }),
          delay: fc.oneof(fc.constant(0), fc.nat(3000)),
          group: fc.nat(3),
          key: fc.nat(5),
          byte: fc.nat(255),
          ttl: fc.oneof(
            { weight: 4, arbitrary: fc.constant(0) },
            { weight: 1, arbitrary: fc.integer({ min: 1, max: 8000 }) },
          ),
          wall: fc.oneof(
            { weight: 5, arbitrary: fc.constant(-1) },
            { weight: 1, arbitrary: fc.integer({ min: -1000, max: 4000 }) },
          ),
        }),
        { minLength: 1, maxLength: 3 },
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('lease' as const),
      q: fc.nat(2),
      max: fc.integer({ min: 1, max: 3 }),
      leaseMs: fc.integer({ min: 500, max: 6000 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('ack' as const),
      pick: fc.nat(),
      pick2: fc.nat(),
      tok: fc.nat(TOKEN_MODES),
      two: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('nack' as const),
      pick: fc.nat(),
      tok: fc.nat(TOKEN_MODES),
      mode: fc.nat(3),
      delayMs: fc.nat(2000),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('release' as const), pick: fc.nat(), tok: fc.nat(TOKEN_MODES) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('extend' as const),
      pick: fc.nat(),
      tok: fc.nat(TOKEN_MODES),
      leaseMs: fc.integer({ min: 500, max: 6000 }),
      cp: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('cancel' as const), pick: fc.nat(), running: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('promote' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pause' as const), q: fc.nat(1), on: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('redrive' as const), q: fc.nat(2), pick: fc.nat(), mode: fc.nat(2) }),
  },
  { weight: 1, arbitrary: fc.constant({ k: 'advance' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('update' as const),
      pick: fc.nat(),
      prio: fc.integer({ min: -1, max: 3 }),
      mode: fc.nat(3),
      ms: fc.nat(3000),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('purge' as const), q: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'open' as const }) },
);

export const stepArb: fc.Arbitrary<Step> = fc.record({
  ops: fc.array(opArb, { minLength: 1, maxLength: 2 }),
  dt: fc.oneof(
    { weight: 6, arbitrary: fc.nat(1500) },
    { weight: 1, arbitrary: fc.integer({ min: 5000, max: 30_000 }) },
  ),
  sess: fc.integer({ min: -3, max: 2 }),
  retry: fc.nat(4),
  floorBump: fc.nat(2),
});

function pickFrom<T>(xs: T[], n: number): T | undefined {
  return xs.length === 0 ? undefined : xs[n % xs.length];
}

function tokenFor(w: World, t: MTask | undefined, mode: number): string {
  if (t === undefined) return '1';
  if (mode === 1) return String(t.history[0]?.token ?? 1);
  if (mode === 2) return String(w.index + 1 + 5);
  return String(t.token === 0 ? 1 : t.token);
}

/** Turn an abstract op into a concrete command against the model's current state. */
function concretize(w: World, op: Op): Command {
  const m = w.model;
  const leasedEver = m.tasks.filter((t) => t.leases > 0);
  switch (op.k) {
    case 'enq':
      return {
        type: 'enqueue',
        queue: QUEUES[op.q] as string,
        tasks: op.items.map((i) => ({
          payload: new Uint8Array([i.byte, i.prio & 0xff]),
          priority: i.prio,
          ...(i.delay > 0 ? { delayMs: i.delay } : {}),
          ...(i.group > 0 ? { group: `g${i.group}` } : {}),
          ...(i.key > 2 ? { idempotencyKey: `k${i.key}` } : {}),
          ...(i.ttl > 0 ? { ttlMs: i.ttl } : {}),
          ...(i.wall >= 0 && i.delay === 0 ? { runAt: WALL0 + w.mono + i.wall } : {}),
        })),
      };
    case 'lease':
      return { type: 'lease', queue: QUEUES[op.q] as string, workerId: `w${op.max}`, max: op.max, leaseMs: op.leaseMs };
    case 'ack': {
      const a = pickFrom(leasedEver, op.pick);
      const items = [{ id: String(a?.id ?? 1), token: tokenFor(w, a, op.tok) }];
      if (op.two) {
        const b = pickFrom(leasedEver, op.pick2);
        items.push({ id: String(b?.id ?? 2), token: tokenFor(w, b, 0) });
      }
      return { type: 'ack', items };
    }
    case 'nack': {
      const t = pickFrom(leasedEver, op.pick);
      const base = {
        type: 'nack' as const,
        id: String(t?.id ?? 1),
        token: tokenFor(w, t, op.tok),
        error: `e${op.mode}`,
      };
      if (op.mode === 1) return { ...base, delayMs: op.delayMs };
      if (op.mode === 2) return { ...base, dead: true };
      return base;
    }
    case 'release': {
      const t = pickFrom(leasedEver, op.pick);
      return { type: 'release', id: String(t?.id ?? 1), token: tokenFor(w, t, op.tok) };
    }
    case 'extend': {
      const t = pickFrom(leasedEver, op.pick);
      const cmd: Command = {
        type: 'extend',
        id: String(t?.id ?? 1),
        token: tokenFor(w, t, op.tok),
        leaseMs: op.leaseMs,
      };
      if (op.cp) cmd.checkpoint = new Uint8Array([op.leaseMs & 0xff]);
      return cmd;
    }
    case 'cancel':
      return {
        type: 'cancel',
        id: String(pickFrom(m.tasks, op.pick)?.id ?? 1),
        ...(op.running ? { running: true } : {}),
      };
    case 'promote':
      return { type: 'promote', id: String(pickFrom(m.tasks, op.pick)?.id ?? 1) };
    case 'pause':
      return { type: op.on ? 'pauseQueue' : 'resumeQueue', queue: QUEUES[op.q] as string };
    case 'redrive': {
      const queue = QUEUES[op.q] as string;
      if (op.mode === 0) return { type: 'redrive', queue };
      const ids = [String(pickFrom(m.tasks, op.pick)?.id ?? 1)];
      return op.mode === 1 ? { type: 'redrive', queue, ids } : { type: 'redrive', queue, ids, toQueue: 'b' };
    }
    case 'advance':
      return { type: 'advanceTime' };
    case 'update': {
      const base = { type: 'update' as const, id: String(pickFrom(m.tasks, op.pick)?.id ?? 1), priority: op.prio };
      if (op.mode === 1) return { ...base, delayMs: op.ms };
      if (op.mode === 2) return { ...base, runAt: WALL0 + w.mono + op.ms - 1000 };
      if (op.mode === 3) return { ...base, payload: new Uint8Array([op.ms & 0xff]) };
      return base;
    }
    case 'purge':
      return { type: 'purgeQueue', queue: QUEUES[op.q] as string };
    case 'open':
      return { type: 'openSession', timeoutMs: 20_000 };
  }
}

function wrap(w: World, step: Step, cmd: Command): SessionCommand {
  const s = step.sess >= 0 ? w.sessions[step.sess % Math.max(1, w.sessions.length)] : undefined;
  if (s === undefined) return { session: null, seq: 0, cmd };
  if (step.retry === 0 && s.sent.size > 0) {
    const seqs = [...s.sent.keys()];
    const seq = seqs[step.floorBump % seqs.length] as number;
    w.stats.set('retry', (w.stats.get('retry') ?? 0) + 1);
    return { session: s.id, seq, floor: s.floor, cmd: s.sent.get(seq) as Command };
  }
  const seq = s.nextSeq++;
  s.sent.set(seq, cmd);
  if (step.floorBump === 2) s.floor = Math.min(seq, s.floor + 1);
  return { session: s.id, seq, floor: s.floor, cmd };
}

class StepCommand implements fc.Command<World, QueueStateMachine> {
  constructor(readonly step: Step) {}

  check(): boolean {
    return true;
  }

  run(w: World, sm: QueueStateMachine): void {
    w.mono += this.step.dt;
    w.index += 1;
    const cmds = this.step.ops.map((op) => wrap(w, this.step, concretize(w, op)));
    const wall = WALL0 + w.mono;
    const got = sm.apply(asLogIndex(w.index), encodeEnvelope({ v: 1, mono: w.mono, wall, cmds }));
    const want = w.model.entry(w.index, w.mono, wall, cmds);
    expect(got.map((a) => normalize(a.answer))).toEqual(want.map(normalize));
    expect(sm.counters.internalErrors).toBe(0);
    if (w.checkEveryStep) finalStateAgrees(w, sm);
    got.forEach((a, i) => {
      const v = a.answer as Answer<{ session?: string }>;
      const cmd = cmds[i]?.cmd;
      const key = `${cmd?.type}:${v.ok ? 'OK' : v.error.code}${v.ok && JSON.stringify(v.value).includes('"dead"') ? ':dead' : ''}`;
      w.stats.set(key, (w.stats.get(key) ?? 0) + 1);
      if (cmd?.type === 'openSession' && v.ok && typeof v.value.session === 'string') {
        w.sessions.push({ id: v.value.session, nextSeq: 1, floor: 0, sent: new Map() });
      }
    });
  }

  toString(): string {
    return JSON.stringify(this.step);
  }
}

function projectModel(t: MTask): unknown {
  return {
    id: String(t.id),
    queue: t.queue,
    state: t.state,
    priority: t.priority,
    attempts: t.attempts,
    deliveries: t.deliveries,
    leases: t.leases,
    group: t.group,
    reason: t.reason,
    lastError: t.lastError,
    checkpoint: t.checkpoint,
    deadLetterOf: t.deadLetterOf === undefined ? undefined : String(t.deadLetterOf),
    deadLetterId: t.deadLetterId === undefined ? undefined : String(t.deadLetterId),
    redrivenFrom: t.redrivenFrom === undefined ? undefined : String(t.redrivenFrom),
    due: t.state === 'delayed' || t.state === 'leased' ? t.due : undefined,
    history: t.history.map((h) => ({ token: String(h.token), end: h.end, error: h.error, workerId: h.worker })),
  };
}

function projectReal(v: TaskView): unknown {
  return {
    id: v.id,
    queue: v.queue,
    state: v.state,
    priority: v.priority,
    attempts: v.attempts,
    deliveries: v.deliveries,
    leases: v.leases,
    group: v.group,
    reason: v.reason,
    lastError: v.lastError,
    checkpoint: v.checkpoint,
    deadLetterOf: v.deadLetterOf?.id,
    deadLetterId: v.deadLetterId,
    redrivenFrom: v.redrivenFrom,
    due: v.runAt?.at ?? v.lease?.deadlineMono,
    history: v.history.map((h) => ({ token: h.token, end: h.end, error: h.error, workerId: h.workerId })),
  };
}

export function setupWorld(checkEveryStep = false): { model: World; real: QueueStateMachine } {
  const sm = new QueueStateMachine();
  const w: World = { model: new Model(), sessions: [], mono: 1000, index: 0, stats: new Map(), checkEveryStep };
  const setup: Command[] = [
    {
      type: 'createQueue',
      queue: 'a',
      settings: {
        maxAttempts: 2,
        maxDeliveries: 2,
        deadLetterQueue: 'dlq',
        backoff: { type: 'exponential', delayMs: 200, maxDelayMs: 1000, jitterPct: 50 },
      },
    },
    {
      type: 'createQueue',
      queue: 'b',
      settings: { concurrency: 2, maxLength: 6, backoff: { type: 'fixed', delayMs: 300, jitterPct: 0 } },
    },
  ];
  new StepCommand({ ops: [], dt: 0, sess: -1, retry: 1, floorBump: 0 }).run(w, sm); // index 1: empty entry
  for (const cmd of setup) {
    w.index += 1;
    const cmds = [{ session: null, seq: 0, cmd }];
    sm.apply(asLogIndex(w.index), encodeEnvelope({ v: 1, mono: w.mono, wall: WALL0 + w.mono, cmds }));
    w.model.entry(w.index, w.mono, WALL0 + w.mono, cmds);
  }
  return { model: w, real: sm };
}

export function finalStateAgrees(w: World, sm: QueueStateMachine): void {
  for (const t of w.model.tasks) {
    const r = sm.read({ type: 'task', id: String(t.id) });
    expect(r.answer.ok).toBe(true);
    if (r.answer.ok) expect(projectReal(r.answer.value as TaskView)).toEqual(projectModel(t));
  }
  expect(sm.read({ type: 'task', id: String(w.model.nextId) }).answer.ok).toBe(false);
  const names = (
    sm.read({ type: 'queues' }).answer as { ok: true; value: { queues: { queue: string }[] } }
  ).value.queues.map((q) => q.queue);
  expect(names).toEqual([...w.model.queues.keys()].sort());
}

describe('statemachine - model-based', () => {
  it('agrees with the reference model on every answer and on the final state', () => {
    fc.assert(
      fc.property(fc.commands([stepArb.map((s) => new StepCommand(s))], { maxCommands: 120 }), (cmds) => {
        fc.modelRun(() => setupWorld(true), cmds);
      }),
      { numRuns: 300 },
    );
  });

  it('agrees on the final state after a run', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 20, maxLength: 150 }), (steps) => {
        const { model: w, real: sm } = setupWorld();
        for (const s of steps) new StepCommand(s).run(w, sm);
        finalStateAgrees(w, sm);
      }),
      { numRuns: 200 },
    );
  });

  it('the generated workload reaches the interesting outcomes', () => {
    const total = new Map<string, number>();
    for (const steps of fc.sample(fc.array(stepArb, { minLength: 100, maxLength: 150 }), { numRuns: 40, seed: 42 })) {
      const { model: w, real: sm } = setupWorld();
      for (const s of steps) new StepCommand(s).run(w, sm);
      for (const [k, n] of w.stats) total.set(k, (total.get(k) ?? 0) + n);
    }
    for (const k of [
      'retry',
      'update:OK',
      'purgeQueue:OK',
      'ack:OK',
      'nack:OK:dead',
      'extend:OK',
      'release:OK',
      'redrive:OK',
      'promote:OK',
      'cancel:OK',
    ]) {
      expect(total.get(k) ?? 0, k).toBeGreaterThan(0);
    }
    const codes = [...total.keys()].join(' ');
    for (const c of ['SESSION_EXPIRED', 'LEASE_LOST', 'FAILED_PRECONDITION', 'RESOURCE_EXHAUSTED'])
      expect(codes).toContain(c);
  });
});
