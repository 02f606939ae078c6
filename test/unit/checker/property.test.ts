import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkAll } from '../../../src/checker/index.js';
import type { CheckName, FinalObservations, LeaseGrant, Op, ReadValue } from '../../../src/checker/index.js';
import { simulate } from './sim.js';
import type { SimResult, Step } from './sim.js';

const stepArb: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom<Step['kind']>(
    'enqueue',
    'enqueue',
    'lease',
    'lease',
    'finish',
    'finish',
    'extend',
    'crash',
    'crash',
    'wait',
    'fault',
  ),
  actor: fc.nat({ max: 8 }),
  r: fc.nat({ max: 1 << 16 }),
  gap: fc.integer({ min: 0, max: 20 }),
});
/** Raise for a deeper search: CHECKER_PROPERTY_RUNS=20000 npx vitest run test/unit/checker */
const validRuns = Number(process.env['CHECKER_PROPERTY_RUNS'] ?? 300);
const runArb = fc.array(stepArb, { minLength: 20, maxLength: 150, size: 'max' }).map(simulate);

function failed(verdict: ReturnType<typeof checkAll>): CheckName[] {
  return (Object.keys(verdict.checks) as CheckName[]).filter((k) => !verdict.checks[k].valid);
}

const endTime = (h: Op[]): number => h.reduce((m, o) => Math.max(m, o.time), 0);
const clone = <T>(x: T): T => structuredClone(x);
const grants = (h: Op[]): LeaseGrant[] =>
  h.filter((o) => o.f === 'lease' && o.type === 'ok' && o.value !== null).map((o) => o.value as LeaseGrant);
const okAcks = (h: Op[]) =>
  h.filter((o) => o.f === 'ack' && o.type === 'ok').map((o) => o.value as { taskId: string; token: string });

function append(h: Op[], ops: Omit<Op, 'time'>[], start = endTime(h) + 1): Op[] {
  return [...h, ...ops.map((o, i) => ({ ...o, time: start + i }) as Op)];
}

function leaseOps(process: string, grant: LeaseGrant): Omit<Op, 'time'>[] {
  return [
    { process, type: 'invoke', f: 'lease', value: null },
    { process, type: 'ok', f: 'lease', value: grant },
  ] as Omit<Op, 'time'>[];
}

interface Mutation {
  name: string;
  check: CheckName;
  /** Returns undefined when the run offers nothing to mutate. */
  apply(run: SimResult): SimResult | undefined;
}

const mutations: Mutation[] = [
  {
    name: 'plant a loss: hide every observation of one acknowledged task',
    check: 'lost',
    apply({ history, final }) {
      const target = history.find((o) => o.f === 'enqueue' && o.type === 'ok');
      if (target === undefined) return undefined;
      const value = (target.value as { value: string }).value;
      const hidden = history.map((o): Op => {
        if (o.f === 'lease' && o.type === 'ok' && (o.value as LeaseGrant | null)?.value === value)
          return { ...o, type: 'info', value: null, error: 'DEADLINE_EXCEEDED' };
        if (o.f === 'read' && o.type === 'ok') {
          const tasks = (o.value as ReadValue).tasks.filter((t) => t.value !== value);
          return { ...o, value: { tasks } };
        }
        return o;
      });
      return { history: hidden, final };
    },
  },
  {
    name: 'a lease of a value nobody enqueued',
    check: 'phantom',
    apply: ({ history, final }) => ({
      history: append(
        history,
        leaseOps('ghost', { taskId: 't-ghost', token: '999999', value: 'ghost', beliefStart: 0, beliefEnd: 0 }),
      ),
      final,
    }),
  },
  {
    name: 'an acknowledged value shows up under a second task id',
    check: 'duplicated',
    apply({ history, final }) {
      const g = grants(history)[0];
      if (g === undefined) return undefined;
      const t = endTime(history) + 1;
      const copy = { ...g, taskId: `${g.taskId}-copy`, token: '999999', beliefStart: t + 1, beliefEnd: t + 2 };
      return { history: append(history, leaseOps('dup', copy), t), final };
    },
  },
  {
    name: 'a newer grant while an earlier holder still believes it holds the task',
    check: 'exclusive',
    apply({ history, final }) {
      const g = grants(history).find((x) => x.beliefEnd > x.beliefStart);
      if (g === undefined) return undefined;
      const overlap = { ...g, token: '999999', beliefStart: g.beliefStart, beliefEnd: g.beliefStart + 0.001 };
      return { history: append(history, leaseOps('thief', overlap), g.beliefStart - 0.5), final };
    },
  },
  {
    name: 'an extend with an old token succeeds after a newer grant completed',
    check: 'staleAcksRefused',
    apply({ history, final }) {
      const g = grants(history)[0];
      if (g === undefined) return undefined;
      const newer = { ...g, token: '999999', beliefStart: endTime(history) + 2, beliefEnd: endTime(history) + 2 };
      const stale = { taskId: g.taskId, token: g.token };
      const ops = [
        ...leaseOps('new-holder', newer),
        { process: 'old-holder', type: 'invoke', f: 'extend', value: stale },
        { process: 'old-holder', type: 'ok', f: 'extend', value: stale },
      ] as Omit<Op, 'time'>[];
      return { history: append(history, ops), final };
    },
  },
  {
    name: 'a completed task completed again with another token',
    check: 'singleCompletion',
    apply({ history, final }) {
      const a = okAcks(history)[0];
      if (a === undefined) return undefined;
      const other = { taskId: a.taskId, token: (BigInt(a.token) + 1n).toString() };
      const ops = [
        { process: 'again', type: 'invoke', f: 'ack', value: other },
        { process: 'again', type: 'ok', f: 'ack', value: other },
      ] as Omit<Op, 'time'>[];
      return { history: append(history, ops), final };
    },
  },
  {
    name: 'an acknowledged completion is pending again in one final read',
    check: 'noAckLost',
    apply({ history, final }) {
      const a = okAcks(history)[0];
      if (a === undefined) return undefined;
      const read = history.findIndex((o) => o.f === 'read' && o.type === 'ok');
      const h = clone(history);
      const tasks = (h[read]!.value as ReadValue).tasks;
      for (const t of tasks) if (t.taskId === a.taskId) t.state = 'waiting';
      return { history: h, final };
    },
  },
  {
    name: 'a group task leased while the earlier one is still waiting',
    check: 'groupOrder',
    apply({ history, final }) {
      const e = (process: string, seq: number, taskId: string): Omit<Op, 'time'>[] => {
        const v = { producer: process, seq, value: `${process}-${seq}`, group: 'mut', taskId };
        return [
          { process, type: 'invoke', f: 'enqueue', value: v },
          { process, type: 'ok', f: 'enqueue', value: v },
        ] as Omit<Op, 'time'>[];
      };
      const grant = { taskId: 'gB', token: '999999', value: 'qm-2', beliefStart: 0, beliefEnd: 0, group: 'mut' };
      const read = [
        { process: 'read-mut', type: 'invoke', f: 'read', value: null, node: 'n1' },
        {
          process: 'read-mut',
          type: 'ok',
          f: 'read',
          node: 'n1',
          value: { tasks: [{ taskId: 'gA', value: 'qm-1', state: 'waiting', group: 'mut' }] },
        },
      ] as Omit<Op, 'time'>[];
      return {
        history: append(history, [...e('qm', 1, 'gA'), ...e('qm', 2, 'gB'), ...leaseOps('wm', grant), ...read]),
        final,
      };
    },
  },
  {
    name: 'one node diverges at a common index',
    check: 'agreement',
    apply({ history, final }) {
      const f: FinalObservations = clone(final);
      const p = f.digests['n3']?.[0];
      if (p === undefined) return undefined;
      p.digest = 'diverged';
      return { history, final: f };
    },
  },
  {
    name: 'a final read through one node misses a task',
    check: 'readsAgree',
    apply({ history, final }) {
      const h = clone(history);
      const read = h.find((o) => o.f === 'read' && o.type === 'ok' && (o.value as ReadValue).tasks.length > 0);
      if (read === undefined) return undefined;
      (read.value as ReadValue).tasks.pop();
      return { history: h, final };
    },
  },
  {
    name: 'one node never serves a probe after the heal',
    check: 'recovery',
    apply({ history, final }) {
      return { history, final: { ...final, recovery: (final.recovery ?? []).filter((p) => p.node !== 'n2') } };
    },
  },
  {
    name: 'an indeterminate enqueue appears as two tasks',
    check: 'infoAtMostOnce',
    apply({ history, final }) {
      const v = { producer: 'pi', seq: 1, value: 'pi-1' };
      const t = endTime(history) + 1;
      const ops = [
        { process: 'pi', type: 'invoke', f: 'enqueue', value: v },
        { process: 'pi', type: 'info', f: 'enqueue', value: v, error: 'DEADLINE_EXCEEDED' },
        ...leaseOps('wi1', { taskId: 'ti1', token: '999998', value: 'pi-1', beliefStart: t + 3, beliefEnd: t + 3 }),
        ...leaseOps('wi2', { taskId: 'ti2', token: '999999', value: 'pi-1', beliefStart: t + 5, beliefEnd: t + 5 }),
      ] as Omit<Op, 'time'>[];
      return { history: append(history, ops, t), final };
    },
  },
];

describe('checker - properties over histories of a correct simulated queue', () => {
  it('every history of the correct queue passes every check', () => {
    fc.assert(
      fc.property(runArb, ({ history, final }) => {
        const verdict = checkAll(history, final);
        expect(failed(verdict), JSON.stringify(verdict.checks)).toEqual([]);
        expect(verdict.stats.malformed).toBe(0);
        expect(verdict.status).toBe('pass');
      }),
      { numRuns: validRuns },
    );
  });

  it('the generator exercises what the checks look at', () => {
    // Over a fixed sample, the correct queue produces expiries, refusals, retries and groups.
    const totals = { expired: 0, refused: 0, info: 0, groupsChecked: 0, faults: 0, repeats: 0 };
    fc.assert(
      fc.property(runArb, ({ history, final }) => {
        const v = checkAll(history, final);
        totals.expired += v.stats.leasesExpired;
        totals.refused += v.stats.staleAcksRefused;
        totals.info += v.stats.info;
        totals.groupsChecked += v.checks.groupOrder.details['groups'] ?? 0;
        totals.faults += Object.values(v.stats.faults).reduce((a, b) => a + b, 0);
        totals.repeats += v.checks.staleAcksRefused.details['repeats'] ?? 0;
      }),
      { numRuns: 100, seed: 42 },
    );
    for (const [k, n] of Object.entries(totals)) expect(n, k).toBeGreaterThan(0);
  });

  for (const m of mutations) {
    it(`mutation "${m.name}" fails ${m.check}`, () => {
      fc.assert(
        fc.property(runArb, (run) => {
          const mutated = m.apply(run);
          fc.pre(mutated !== undefined);
          const verdict = checkAll(mutated.history, mutated.final);
          expect(verdict.checks[m.check].valid).toBe(false);
          expect(verdict.status).toBe('fail');
        }),
        { numRuns: 60 },
      );
    });
  }
});
