// Property tests of limit keys against a model (issue 13): the model tracks, from the answers
// alone, which tasks are pending (by key, with priority) and which are leased (with cost), and
// checks every grant: the concurrency limits in cost units are never exceeded at any log position,
// the rate over any window never exceeds limit × window / interval + burst, a held key gets nothing
// while held, a lease serves a key's highest priority task, and (without rates) a lease that
// returns fewer than asked leaves no key with room. A replica restored from a snapshot at a random
// position continues with the same answers and digests. Fairness: with K keys all backlogged, over
// any window of consecutive leases, |U_i/w_i − U_j/w_j| ≤ 2·(c_i/w_i + c_j/w_j), where U is the cost
// units leased, w the weight and c the (fixed) task cost of a key.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Command, LeasedTask, RateLimit } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { S_LEASED } from '../../../src/statemachine/records.js';
import { ReplicaPair, bytes } from './harness.js';

const KEYS = ['k0', 'k1', 'k2', 'k3'];
const LEASE_MS = 2500;

interface MTask {
  id: string;
  key: string;
  cost: number;
  priority: number;
}
interface MLease extends MTask {
  token: string;
  deadline: number;
}
interface Settings {
  concurrency: number | null;
  rate: RateLimit | null;
  keyConcurrency: number | null;
  keyRate: RateLimit | null;
}

const rateArb = fc.option(
  fc.record({
    limit: fc.integer({ min: 1, max: 3 }),
    intervalMs: fc.integer({ min: 200, max: 2000 }),
    burst: fc.integer({ min: 1, max: 4 }),
  }),
  { nil: null },
);
const settingsArb = (rates: boolean): fc.Arbitrary<Settings> =>
  fc.record({
    concurrency: fc.option(fc.integer({ min: 2, max: 6 }), { nil: null }),
    rate: rates ? rateArb : fc.constant(null),
    keyConcurrency: fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }),
    keyRate: rates ? rateArb : fc.constant(null),
  });

type Op =
  | { t: 'enq'; key: number; cost: number; priority: number; n: number }
  | { t: 'lease'; max: number }
  | { t: 'ack' | 'nack'; pick: number }
  | { t: 'release'; pick: number; hold: number }
  | { t: 'adv'; dt: number };

const opArb = (holds: boolean): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        t: fc.constant('enq' as const),
        key: fc.integer({ min: -1, max: 3 }),
        cost: fc.integer({ min: 1, max: 3 }),
        priority: fc.integer({ min: 0, max: 2 }),
        n: fc.integer({ min: 1, max: 3 }),
      }),
    },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('lease' as const), max: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constantFrom('ack' as const, 'nack' as const), pick: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('release' as const),
        pick: fc.nat(),
        hold: holds ? fc.integer({ min: 0, max: 1500 }) : fc.constant(0),
      }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('adv' as const), dt: fc.integer({ min: 0, max: 1200 }) }) },
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
      expect(sum * r.intervalMs).toBeLessThanOrEqual(r.limit * w + burst * r.intervalMs);
    }
  }
}

class Model {
  readonly pending = new Map<string, MTask[]>();
  readonly leased = new Map<string, MLease>();
  readonly grants = new Map<string, { at: number; cost: number }[]>();
  readonly queueGrants: { at: number; cost: number }[] = [];
  readonly holds: { key: string; from: number; until: number }[] = [];

  constructor(readonly s: Settings) {}

  keyConc(key: string): number | null {
    return key === '' ? null : this.s.keyConcurrency;
  }

  inUse(key?: string): number {
    let n = 0;
    for (const l of this.leased.values()) if (key === undefined || l.key === key) n += l.cost;
    return n;
  }

  add(t: MTask): void {
    const list = this.pending.get(t.key) ?? [];
    list.push(t);
    this.pending.set(t.key, list);
  }

  head(key: string): MTask | undefined {
    const list = this.pending.get(key) ?? [];
    return [...list].sort((a, b) => b.priority - a.priority || Number(a.id) - Number(b.id))[0];
  }

  /** Leases whose deadline passed end at the start of the entry: back to pending (maxDeliveries is never reached). */
  expire(mono: number): void {
    for (const l of [...this.leased.values()]) {
      if (l.deadline > mono) continue;
      this.leased.delete(l.id);
      this.add(l);
    }
  }

  granted(ts: LeasedTask[], mono: number): void {
    for (const lt of ts) {
      const key = lt.key ?? '';
      const cost = lt.cost ?? 1;
      const head = this.head(key);
      expect(lt.id, 'a lease serves the key’s highest priority task').toBe(head?.id);
      expect(fits(this.inUse(key), cost, this.keyConc(key)), 'key concurrency').toBe(true);
      expect(fits(this.inUse(), cost, this.s.concurrency), 'queue concurrency').toBe(true);
      for (const h of this.holds) expect(h.key === key && mono >= h.from && mono < h.until, 'held key').toBe(false);
      const list = this.pending.get(key) as MTask[];
      list.splice(list.indexOf(head as MTask), 1);
      this.leased.set(lt.id, { ...(head as MTask), token: lt.token, deadline: lt.deadlineMono });
      const g = this.grants.get(key) ?? [];
      g.push({ at: mono, cost });
      this.grants.set(key, g);
      this.queueGrants.push({ at: mono, cost });
    }
  }

  /**
   * Without rates or holds, fewer than asked means: no key has room for its head task, or the
   * queue has no room for the head of some key that does (the queue's concurrency is not passed
   * over by smaller tasks of later keys, which would starve a large one).
   */
  checkConserving(): void {
    const heads: MTask[] = [];
    for (const key of this.pending.keys()) {
      const h = this.head(key);
      if (h !== undefined && fits(this.inUse(key), h.cost, this.keyConc(key))) heads.push(h);
    }
    const queueFull = heads.some((h) => !fits(this.inUse(), h.cost, this.s.concurrency));
    expect(heads.length === 0 || queueFull, `keys ${heads.map((h) => h.key).join()} had room`).toBe(true);
  }

  checkRates(): void {
    if (this.s.rate !== null) checkRate(this.queueGrants, this.s.rate);
    if (this.s.keyRate === null) return;
    for (const [key, g] of this.grants) if (key !== '') checkRate(g, this.s.keyRate);
  }
}

function settingsCmd(s: Settings): Command {
  const settings: Record<string, unknown> = {
    concurrency: s.concurrency,
    leaseMs: LEASE_MS,
    maxAttempts: 1000,
    maxDeliveries: 1000,
  };
  if (s.rate !== null) settings['rate'] = s.rate;
  settings['keyLimits'] = { concurrency: s.keyConcurrency, rate: s.keyRate };
  return { type: 'createQueue', queue: 'q', settings } as Command;
}

function step(p: ReplicaPair, m: Model, op: Op, conserving: boolean): void {
  const pickLease = (n: number): MLease | undefined => [...m.leased.values()][n % Math.max(1, m.leased.size)];
  const dt = op.t === 'adv' ? op.dt : 1;
  m.expire(p.mono + dt);
  switch (op.t) {
    case 'enq': {
      const key = op.key < 0 ? undefined : KEYS[op.key];
      const specs = Array.from({ length: op.n }, () => ({
        payload: bytes(1),
        key,
        cost: op.cost,
        priority: op.priority,
      }));
      const a = p.run({ type: 'enqueue', queue: 'q', tasks: specs }, dt);
      const items = (a as { value: { items: { id: string }[] } }).value.items;
      for (const it of items) m.add({ id: it.id, key: key ?? '', cost: op.cost, priority: op.priority });
      return;
    }
    case 'lease': {
      const a = p.run({ type: 'lease', queue: 'q', workerId: 'w', max: op.max }, dt);
      const ts = (a as { value: { tasks: LeasedTask[] } }).value.tasks;
      m.granted(ts, p.mono);
      if (conserving && ts.length < op.max) m.checkConserving();
      return;
    }
    case 'adv':
      p.run({ type: 'advanceTime' }, dt);
      return;
    default:
      break;
  }
  const l = pickLease(op.pick);
  if (l === undefined) {
    p.run({ type: 'advanceTime' }, dt);
    return;
  }
  m.leased.delete(l.id);
  if (op.t === 'ack') {
    p.run({ type: 'ack', items: [{ id: l.id, token: l.token }] }, dt);
  } else if (op.t === 'nack') {
    expect(p.run({ type: 'nack', id: l.id, token: l.token, delayMs: 0 }, dt).ok).toBe(true);
    m.add(l);
  } else if (op.t === 'release') {
    const hold = op.hold > 0 ? { holdMs: op.hold } : {};
    expect(p.run({ type: 'release', id: l.id, token: l.token, ...hold } as Command, dt).ok).toBe(true);
    if (op.hold > 0) m.holds.push({ key: l.key, from: p.mono, until: p.mono + op.hold });
    m.add(l);
  }
}

function leasedInMachine(sm: QueueStateMachine): string[] {
  const out: string[] = [];
  for (const t of sm.state.tasks.values()) if (t.state === S_LEASED) out.push(String(t.id));
  return out.sort();
}

function runOps(s: Settings, ops: Op[], cut: number, conserving: boolean): void {
  const p = new ReplicaPair(new QueueStateMachine());
  const m = new Model(s);
  p.run(settingsCmd(s), 0);
  ops.forEach((op, i) => {
    if (i === cut % ops.length) p.restoreHere();
    step(p, m, op, conserving);
    expect(leasedInMachine(p.sm)).toEqual([...m.leased.keys()].sort());
  });
  m.checkRates();
  expect(p.sm.counters.internalErrors).toBe(0);
}

describe('statemachine - limit keys against a model', () => {
  it('concurrency, rates and holds hold at every log position, across snapshot and restore', () => {
    fc.assert(
      fc.property(settingsArb(true), fc.array(opArb(true), { minLength: 1, maxLength: 80 }), fc.nat(), (s, ops, cut) =>
        runOps(s, ops, cut, false),
      ),
      { numRuns: 150 },
    );
  });

  it('without rates a lease is work-conserving: fewer than asked leaves no key with room', () => {
    fc.assert(
      fc.property(
        settingsArb(false),
        fc.array(opArb(false), { minLength: 1, maxLength: 80 }),
        fc.nat(),
        (s, ops, cut) => runOps(s, ops, cut, true),
      ),
      { numRuns: 150 },
    );
  });
});

describe('statemachine - fair shares of backlogged keys', () => {
  const keyArb = fc.record({ weight: fc.integer({ min: 1, max: 10 }), cost: fc.integer({ min: 1, max: 3 }) });

  it('over any window each key gets its weighted share within the stated tolerance', () => {
    fc.assert(
      fc.property(
        fc.array(keyArb, { minLength: 2, maxLength: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.nat(),
        (ks, batch, cut) => {
          const names = ks.map((_, i) => `t${i}`);
          const keys = Object.fromEntries(names.map((n, i) => [n, { weight: (ks[i] as { weight: number }).weight }]));
          const p = new ReplicaPair(new QueueStateMachine());
          p.run({ type: 'createQueue', queue: 'q', settings: { keys } } as Command, 0);
          for (const [i, n] of names.entries()) {
            const specs = Array.from({ length: 300 }, () => ({
              payload: bytes(1),
              key: n,
              cost: (ks[i] as { cost: number }).cost,
            }));
            p.run({ type: 'enqueue', queue: 'q', tasks: specs }, 0);
          }
          const order: string[] = [];
          const rounds = Math.floor(240 / batch);
          for (let r = 0; r < rounds; r++) {
            if (r === cut % rounds) p.restoreHere();
            const a = p.run({ type: 'lease', queue: 'q', workerId: 'w', max: batch }, 1);
            for (const t of (a as { value: { tasks: LeasedTask[] } }).value.tasks) order.push(t.key as string);
          }
          checkShares(order, names, ks);
        },
      ),
      { numRuns: 30 },
    );
  });
});

function checkShares(order: string[], names: string[], ks: { weight: number; cost: number }[]): void {
  const idx = new Map(names.map((n, i) => [n, i]));
  for (let from = 0; from < order.length; from += 17) {
    const units = names.map(() => 0);
    for (let to = from; to < order.length; to++) {
      const i = idx.get(order[to] as string) as number;
      units[i] = (units[i] as number) + (ks[i] as { cost: number }).cost;
      for (let a = 0; a < names.length; a++) {
        for (let b = a + 1; b < names.length; b++) {
          const ka = ks[a] as { weight: number; cost: number };
          const kb = ks[b] as { weight: number; cost: number };
          const lag = Math.abs((units[a] as number) / ka.weight - (units[b] as number) / kb.weight);
          expect(lag).toBeLessThanOrEqual(2 * (ka.cost / ka.weight + kb.cost / kb.weight) + 1e-9);
        }
      }
    }
  }
}
