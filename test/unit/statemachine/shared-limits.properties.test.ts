// Property tests of shared limits against a model (issue 13): three queues, two of them always
// under the shared limit `api` and the third joining and leaving it; random enqueues (keys, costs),
// leases, acks, nacks, releases, lease expiries, time steps and changes of the limit. The model
// knows, from the answers alone, which tasks are leased in which queue, and checks every grant:
// the limit's concurrency (in cost units, over all its queues) and its per-key concurrency (over
// all its queues) are never exceeded at any log position; over any window, grants under the
// limit take at most limit × window / interval + burst from its bucket and from each key's; and
// (without rates) a lease that returns fewer than asked leaves no key of that queue with room. A
// replica restored from a snapshot at a random position continues with the same answers and
// digests.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Command, LeasedTask, RateLimit } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { ReplicaPair, bytes } from './harness.js';

const QUEUES = ['a', 'b', 'c'];
const KEYS = ['k0', 'k1', 'k2'];
const LEASE_MS = 2500;

interface Spec {
  concurrency: number | null;
  rate: RateLimit | null;
  keyConcurrency: number | null;
  keyRate: RateLimit | null;
}
interface MLease {
  id: string;
  token: string;
  queue: string;
  key: string;
  cost: number;
  deadline: number;
}
interface MTask {
  id: string;
  key: string;
  cost: number;
  priority: number;
}

const rateArb = fc.option(
  fc.record({
    limit: fc.integer({ min: 1, max: 3 }),
    intervalMs: fc.integer({ min: 200, max: 2000 }),
    burst: fc.integer({ min: 1, max: 4 }),
  }),
  { nil: null },
);
const specArb = (rates: boolean): fc.Arbitrary<Spec> =>
  fc.record({
    concurrency: fc.option(fc.integer({ min: 2, max: 6 }), { nil: null }),
    rate: rates ? rateArb : fc.constant(null),
    keyConcurrency: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
    keyRate: rates ? rateArb : fc.constant(null),
  });

type Op =
  | { t: 'enq'; q: number; key: number; cost: number; priority: number; n: number }
  | { t: 'lease'; q: number; max: number }
  | { t: 'ack' | 'nack' | 'release'; pick: number }
  | { t: 'adv'; dt: number }
  | { t: 'bind'; on: boolean }
  | { t: 'spec'; spec: Spec };

const opArb = (rates: boolean): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        t: fc.constant('enq' as const),
        q: fc.integer({ min: 0, max: 2 }),
        key: fc.integer({ min: -1, max: 2 }),
        cost: fc.integer({ min: 1, max: 3 }),
        priority: fc.integer({ min: 0, max: 2 }),
        n: fc.integer({ min: 1, max: 3 }),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        t: fc.constant('lease' as const),
        q: fc.integer({ min: 0, max: 2 }),
        max: fc.integer({ min: 1, max: 4 }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({ t: fc.constantFrom('ack' as const, 'nack' as const, 'release' as const), pick: fc.nat() }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('adv' as const), dt: fc.integer({ min: 0, max: 1200 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('bind' as const), on: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('spec' as const), spec: specArb(rates) }) },
  );

function fits(inUse: number, c: number, limit: number | null): boolean {
  return limit === null || inUse === 0 || inUse + c <= limit;
}

/** No window of grants takes more than limit × window / interval + burst (each grant at most burst). */
function checkRate(grants: { at: number; cost: number }[], r: RateLimit): void {
  const burst = r.burst ?? r.limit;
  for (let i = 0; i < grants.length; i++) {
    let sum = 0;
    for (let j = i; j < grants.length; j++) {
      sum += Math.min((grants[j] as { cost: number }).cost, burst);
      const w = (grants[j] as { at: number }).at - (grants[i] as { at: number }).at;
      expect(sum * r.intervalMs, 'rate over a window').toBeLessThanOrEqual(r.limit * w + burst * r.intervalMs);
    }
  }
}

class Model {
  readonly pending = new Map<string, MTask[]>(); // by queue + '/' + key
  readonly leased = new Map<string, MLease>();
  /** Grants under the limit since its spec last changed: in total and by key. */
  total: { at: number; cost: number }[] = [];
  byKey = new Map<string, { at: number; cost: number }[]>();
  cBound = false;

  constructor(public spec: Spec) {}

  bound(queue: string): boolean {
    return queue !== 'c' || this.cBound;
  }

  inUse(key?: string): number {
    let n = 0;
    for (const l of this.leased.values()) if (this.bound(l.queue) && (key === undefined || l.key === key)) n += l.cost;
    return n;
  }

  add(queue: string, t: MTask): void {
    const k = `${queue}/${t.key}`;
    this.pending.set(k, [...(this.pending.get(k) ?? []), t]);
  }

  head(queue: string, key: string): MTask | undefined {
    const list = this.pending.get(`${queue}/${key}`) ?? [];
    return [...list].sort((a, b) => b.priority - a.priority || Number(a.id) - Number(b.id))[0];
  }

  expire(mono: number): void {
    for (const l of [...this.leased.values()]) {
      if (l.deadline > mono) continue;
      this.leased.delete(l.id);
      this.add(l.queue, {
        id: l.id,
        key: l.key,
        cost: l.cost,
        priority: (l as MLease & { priority: number }).priority,
      });
    }
  }

  granted(queue: string, ts: LeasedTask[], mono: number): void {
    for (const lt of ts) {
      const key = lt.key ?? '';
      const cost = lt.cost ?? 1;
      const head = this.head(queue, key) as MTask;
      expect(lt.id, 'a lease serves the key’s highest priority task').toBe(head?.id);
      if (this.bound(queue)) {
        expect(fits(this.inUse(), cost, this.spec.concurrency), 'shared concurrency').toBe(true);
        if (key !== '')
          expect(fits(this.inUse(key), cost, this.spec.keyConcurrency), 'shared key concurrency').toBe(true);
        this.total.push({ at: mono, cost });
        if (key !== '') this.byKey.set(key, [...(this.byKey.get(key) ?? []), { at: mono, cost }]);
      }
      const list = this.pending.get(`${queue}/${key}`) as MTask[];
      list.splice(list.indexOf(head), 1);
      this.leased.set(lt.id, { ...head, queue, token: lt.token, deadline: lt.deadlineMono });
    }
  }

  /** Without rates, fewer than asked: no key of the queue has room, or the limit has none for some key's head. */
  checkConserving(queue: string): void {
    const heads: MTask[] = [];
    for (const k of KEYS.concat([''])) {
      const h = this.head(queue, k);
      if (h === undefined) continue;
      if (!this.bound(queue) || k === '' || fits(this.inUse(k), h.cost, this.spec.keyConcurrency)) heads.push(h);
    }
    const full = this.bound(queue) && heads.some((h) => !fits(this.inUse(), h.cost, this.spec.concurrency));
    expect(heads.length === 0 || full, `keys ${heads.map((h) => h.key).join()} of ${queue} had room`).toBe(true);
  }

  checkRates(): void {
    if (this.spec.rate !== null) checkRate(this.total, this.spec.rate);
    if (this.spec.keyRate !== null) for (const g of this.byKey.values()) checkRate(g, this.spec.keyRate);
  }
}

function specCmd(s: Spec): Command {
  const out: Record<string, unknown> = { type: 'setSharedLimit', name: 'api' };
  if (s.concurrency !== null) out['concurrency'] = s.concurrency;
  if (s.rate !== null) out['rate'] = s.rate;
  const kl: Record<string, unknown> = {};
  if (s.keyConcurrency !== null) kl['concurrency'] = s.keyConcurrency;
  if (s.keyRate !== null) kl['rate'] = s.keyRate;
  if (Object.keys(kl).length > 0) out['keyLimits'] = kl;
  return out as unknown as Command;
}

function step(p: ReplicaPair, m: Model, op: Op, conserving: boolean): void {
  const dt = op.t === 'adv' ? op.dt : 1;
  m.expire(p.mono + dt);
  switch (op.t) {
    case 'enq': {
      const queue = QUEUES[op.q] as string;
      const key = op.key < 0 ? undefined : KEYS[op.key];
      const tasks = Array.from({ length: op.n }, () => ({
        payload: bytes(1),
        key,
        cost: op.cost,
        priority: op.priority,
      }));
      const a = p.run({ type: 'enqueue', queue, tasks }, dt);
      for (const it of (a as { value: { items: { id: string }[] } }).value.items)
        m.add(queue, { id: it.id, key: key ?? '', cost: op.cost, priority: op.priority });
      return;
    }
    case 'lease': {
      const queue = QUEUES[op.q] as string;
      const a = p.run({ type: 'lease', queue, workerId: 'w', max: op.max }, dt);
      const ts = (a as { value: { tasks: LeasedTask[] } }).value.tasks;
      m.granted(queue, ts, p.mono);
      if (conserving && ts.length < op.max) m.checkConserving(queue);
      return;
    }
    case 'adv':
      p.run({ type: 'advanceTime' }, dt);
      return;
    case 'bind': {
      const a = p.run({ type: 'configureQueue', queue: 'c', settings: { sharedLimit: op.on ? 'api' : null } }, dt);
      expect(a.ok).toBe(true);
      m.cBound = op.on;
      return;
    }
    case 'spec':
      expect(p.run(specCmd(op.spec), dt).ok).toBe(true);
      m.spec = op.spec;
      m.total = [];
      m.byKey = new Map();
      return;
    default:
      break;
  }
  const all = [...m.leased.values()];
  const l = all[op.pick % Math.max(1, all.length)];
  if (l === undefined) {
    p.run({ type: 'advanceTime' }, dt);
    return;
  }
  const cmd =
    op.t === 'ack'
      ? { type: 'ack' as const, items: [{ id: l.id, token: l.token }] }
      : { type: op.t, id: l.id, token: l.token };
  const a = p.run(cmd as Command, dt);
  expect(a.ok).toBe(true);
  m.leased.delete(l.id);
  if (op.t !== 'ack')
    m.add(l.queue, { id: l.id, key: l.key, cost: l.cost, priority: (l as MLease & { priority: number }).priority });
}

function runCase(spec: Spec, ops: Op[], cut: number, conserving: boolean): void {
  const p = new ReplicaPair(new QueueStateMachine({ events: false }));
  const m = new Model(spec);
  p.run(specCmd(spec), 0);
  const settings = { leaseMs: LEASE_MS, maxAttempts: 1000, maxDeliveries: 1000, backoff: { delayMs: 0, jitterPct: 0 } };
  p.run({ type: 'createQueue', queue: 'a', settings: { ...settings, sharedLimit: 'api' } } as Command, 0);
  p.run({ type: 'createQueue', queue: 'b', settings: { ...settings, sharedLimit: 'api' } } as Command, 0);
  p.run({ type: 'createQueue', queue: 'c', settings } as Command, 0);
  ops.forEach((op, i) => {
    if (i === cut) p.restoreHere();
    step(p, m, op, conserving && m.spec.rate === null && m.spec.keyRate === null);
  });
  m.checkRates();
}

describe('statemachine - shared limits against a model', () => {
  it('concurrency in total and per key across queues, conserving, across snapshots (no rates)', () => {
    fc.assert(
      fc.property(
        specArb(false),
        fc.array(opArb(false), { minLength: 40, maxLength: 120 }),
        fc.nat(120),
        (spec, ops, cut) => runCase(spec, ops, cut, true),
      ),
      { numRuns: 150 },
    );
  });

  it('rates in total and per key across queues, with concurrency, across snapshots', () => {
    fc.assert(
      fc.property(
        specArb(true),
        fc.array(opArb(true), { minLength: 40, maxLength: 120 }),
        fc.nat(120),
        (spec, ops, cut) => runCase(spec, ops, cut, false),
      ),
      { numRuns: 150 },
    );
  });
});
