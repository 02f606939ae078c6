import { describe, expect, it } from 'vitest';
import {
  checkAll,
  checkJsonLines,
  HistoryRecorder,
  indexHistory,
  checkStaleAcksRefused,
  parseHistory,
  summary,
  timelineSvg,
} from '../../../src/checker/index.js';
import type { FinalObservations, FinalTask, Minimums, Op } from '../../../src/checker/index.js';
import { finalOf, HistoryBuilder } from './builder.js';

interface Variant {
  staleAckOutcome?: 'ok' | 'fail';
  leaseP12?: boolean;
  w3BeliefStart?: number;
  reads?: FinalTask[];
}

const done = (taskId: string, value: string, group?: string): FinalTask => ({
  taskId,
  value,
  state: 'completed',
  ...(group === undefined ? {} : { group }),
});
const allDone = [done('t1', 'p1-1'), done('t2', 'p1-2', 'g'), done('t3', 'p1-3', 'g')];

/**
 * A clean run: three enqueues (two in group g) under a kill fault, one leader change, a worker (w2)
 * that stalls past its lease so w3 gets a newer token, and w2's late ack refused with LEASE_LOST.
 */
function run(v: Variant = {}): HistoryBuilder {
  const b = new HistoryBuilder();
  b.leader('n1', 1).fault('kill', 'start', 2);
  b.enqueue('p1', { seq: 1, value: 'p1-1', key: 'k1', taskId: 't1' }, 'ok', { at: 3 });
  b.enqueue('p1', { seq: 2, value: 'p1-2', group: 'g', taskId: 't2' }, 'ok', { at: 5 });
  b.enqueue('p1', { seq: 3, value: 'p1-3', group: 'g', taskId: 't3' }, 'ok', { at: 7 });
  b.fault('kill', 'stop', 9).leader('n2', 2);
  b.lease('w1', { taskId: 't1', token: 10, value: 'p1-1' }, { at: 20 });
  b.ack('w1', 't1', 10, 'ok', { at: 30 });
  if (v.leaseP12 !== false) b.lease('w1', { taskId: 't2', token: 12, value: 'p1-2', group: 'g' }, { at: 40 });
  b.ack('w1', 't2', 12, 'ok', { at: 50 });
  b.lease('w2', { taskId: 't3', token: 14, value: 'p1-3', group: 'g' }, { at: 60 }); // belief [61, 161]
  const w3 = { taskId: 't3', token: 20, value: 'p1-3', group: 'g' };
  b.lease('w3', v.w3BeliefStart === undefined ? w3 : { ...w3, start: v.w3BeliefStart }, { at: 200 });
  b.ack('w2', 't3', 14, v.staleAckOutcome ?? 'fail', { at: 210 });
  b.ack('w3', 't3', 20, 'ok', { at: 220 });
  b.read('n1', v.reads ?? allDone, { at: 300 });
  b.read('n2', v.reads ?? allDone, { at: 302 });
  return b;
}

function final(extra: Partial<FinalObservations> = {}): FinalObservations {
  return finalOf(
    ['n1', 'n2'],
    [
      [10, 'aa'],
      [20, 'bb'],
    ],
    {
      healTime: 9,
      recovery: [
        { node: 'n1', time: 100, ok: true },
        { node: 'n2', time: 110, ok: true },
      ],
      ...extra,
    },
  );
}

const minimums: Minimums = {
  ok: 9,
  fail: 1,
  completed: 3,
  faults: { kill: 1 },
  leaderChanges: 1,
  leasesExpired: 1,
  staleAcksRefused: 1,
  digestComparisons: 2,
};

function failing(history: Op[], fin: FinalObservations = final()) {
  const verdict = checkAll(history, fin, { minimums });
  const failed = Object.entries(verdict.checks)
    .filter(([, r]) => !r.valid)
    .map(([name]) => name);
  return { verdict, failed };
}

describe('checker - a clean history', () => {
  it('passes every check and reaches the minimums', () => {
    const verdict = checkAll(run().history(), final(), { minimums });
    expect(verdict.harness.shortfalls).toEqual([]);
    expect(verdict.status).toBe('pass');
    expect(verdict.valid).toBe(true);
    expect(verdict.stats).toMatchObject({
      enqueued: 3,
      leased: 4,
      completed: 3,
      faults: { kill: 1 },
      leaderChanges: 1,
      leasesExpired: 1,
      staleAcksRefused: 1,
      digestComparisons: 2,
      malformed: 0,
    });
    expect(verdict.checks.lost.details).toEqual({ checked: 3 });
    expect(verdict.checks.exclusive.details).toEqual({ tasks: 3, grants: 4 });
    // The kill started at 2; the first call invoked after it to succeed completed at 4.
    expect(verdict.stats.failoverMs).toBe(2);
  });
});

describe('checker - each violation is reported by its check', () => {
  it('lost: a planted loss in the middle of a producer fails `lost`', () => {
    const reads = allDone.filter((t) => t.value !== 'p1-2');
    const { verdict, failed } = failing(run({ leaseP12: false, reads }).history());
    expect(failed).toContain('lost');
    expect(verdict.checks.lost.details).toMatchObject({ middle: 1 });
    expect(verdict.checks.lost.examples[0]).toMatchObject({ kind: 'middle', value: 'p1-2' });
    expect(verdict.status).toBe('fail');
  });

  it('lost: an acknowledged enqueue never seen again is a postfix loss', () => {
    const b = run().enqueue('p1', { seq: 4, value: 'p1-4', taskId: 't4' }, 'ok', { at: 400 });
    const { verdict, failed } = failing(b.history());
    expect(failed).toEqual(['lost']);
    expect(verdict.checks.lost.details).toMatchObject({ postfix: 1 });
  });

  it('lost: an acknowledged id that later holds another value is no evidence (the jepsen-like C3 finding)', () => {
    // p1-4 was answered t9 and lost in a power loss; t9 was handed out again to p1-5.
    const b = run()
      .enqueue('p1', { seq: 4, value: 'p1-4', taskId: 't9' }, 'ok', { at: 400 })
      .enqueue('p1', { seq: 5, value: 'p1-5', taskId: 't9' }, 'ok', { at: 402 })
      .lease('w9', { taskId: 't9', token: 70, value: 'p1-5' }, { at: 410 });
    const { verdict, failed } = failing(b.history());
    expect(failed).toContain('lost');
    expect(verdict.checks.lost.examples[0]).toMatchObject({ value: 'p1-4', taskIds: ['t9'] });
    // The same answer for a keyed retry of the task's own key is evidence.
    const keyed = run()
      .enqueue('p1', { seq: 4, value: 'p1-4', key: 'k9', taskId: 't9' }, 'ok', { at: 400 })
      .enqueue('p5', { seq: 1, value: 'p5-1', key: 'k9', taskId: 't9' }, 'ok', { at: 402 })
      .lease('w9', { taskId: 't9', token: 70, value: 'p1-4' }, { at: 410 });
    expect(failing(keyed.history()).failed).toEqual([]);
  });

  it('lost: an unacknowledged (info) enqueue never seen is not a loss', () => {
    const b = run().enqueue('p1', { seq: 4, value: 'p1-4', key: 'k4' }, 'info', { at: 400, error: 'UNAVAILABLE' });
    expect(failing(b.history()).failed).toEqual([]);
  });

  it('phantom: a leased value nobody enqueued', () => {
    const b = run().lease('w9', { taskId: 't9', token: 50, value: 'ghost' }, { at: 400 });
    const { verdict, failed } = failing(b.history());
    expect(failed).toEqual(['phantom']);
    expect(verdict.checks.phantom.examples[0]).toMatchObject({ kind: 'unexpected', value: 'ghost' });
  });

  it('phantom: an enqueue that certainly failed shows up', () => {
    const b = run()
      .enqueue('p2', { seq: 1, value: 'p2-1' }, 'fail', { at: 400, error: 'NOT_LEADER' })
      .lease('w9', { taskId: 't9', token: 50, value: 'p2-1' }, { at: 410 });
    expect(failing(b.history()).verdict.checks.phantom.details).toMatchObject({ 'failed-enqueue-present': 1 });
  });

  it('duplicated: one producer operation became two tasks', () => {
    const b = run().lease('w9', { taskId: 't1-bis', token: 60, value: 'p1-1' }, { at: 400 });
    const { verdict, failed } = failing(b.history());
    expect(failed).toContain('duplicated');
    expect(verdict.checks.duplicated.details).toMatchObject({ 'per-operation': 1 });
  });

  it('duplicated: one idempotency key became two tasks', () => {
    const b = run()
      .enqueue('p3', { seq: 1, value: 'p3-1', key: 'k1', taskId: 't7' }, 'ok', { at: 400 })
      .lease('w9', { taskId: 't7', token: 60, value: 'p3-1' }, { at: 410 });
    const { verdict, failed } = failing(b.history());
    expect(failed).toEqual(['duplicated']);
    expect(verdict.checks.duplicated.examples[0]).toMatchObject({ kind: 'per-idempotency-key', idempotencyKey: 'k1' });
  });

  it('duplicated: a deduplicated retry answering the original id passes', () => {
    const b = run()
      .enqueue('p1', { seq: 1, value: 'p1-1', key: 'k1', taskId: 't1' }, 'ok', { at: 400 })
      .enqueue('p5', { seq: 1, value: 'p5-1', key: 'k1', taskId: 't1' }, 'ok', { at: 402 });
    expect(failing(b.history()).failed).toEqual([]);
  });

  it('duplicated: a dead-letter copy or a redriven task marked derivedFrom is not a duplicate', () => {
    const copy = { taskId: 't1-dlq', token: 90, value: 'p1-1', derivedFrom: 't1' };
    const b = run().lease('w9', copy, { at: 400 }).ack('w9', 't1-dlq', 90, 'ok', { at: 410 });
    expect(failing(b.history()).failed).toEqual([]);
    const unmarked = run().lease('w9', { ...copy, derivedFrom: undefined }, { at: 400 });
    expect(failing(unmarked.history()).failed).toContain('duplicated');
  });

  it('infoAtMostOnce: an indeterminate enqueue present as two tasks', () => {
    const b = run()
      .enqueue('p4', { seq: 1, value: 'p4-1' }, 'info', { at: 400, error: 'DEADLINE_EXCEEDED' })
      .lease('w8', { taskId: 't8', token: 70, value: 'p4-1' }, { at: 410 })
      .lease('w9', { taskId: 't9', token: 72, value: 'p4-1' }, { at: 420 });
    const { verdict, failed } = failing(b.history());
    expect(failed).toEqual(['infoAtMostOnce']);
    expect(verdict.checks.infoAtMostOnce.details).toMatchObject({ 'present-twice': 1, recovered: 1 });
  });

  it('exclusive: believed-held intervals of two tokens overlap', () => {
    // w2 believes it holds t3 until 161 (its ack goes out at 210); w3 believes from 150.
    const { verdict, failed } = failing(run({ w3BeliefStart: 150 }).history());
    expect(failed).toEqual(['exclusive']);
    expect(verdict.checks.exclusive.examples[0]).toMatchObject({ kind: 'overlap', taskId: 't3' });
  });

  it('exclusive: the holder gives the task back before the next grant, so no overlap', () => {
    // w2 acks (refused) at 210 and w3 believes from 215 although w2's belief ran to 161+100.
    const b = new HistoryBuilder()
      .enqueue('p', { seq: 1, value: 'v', taskId: 't' })
      .lease('w2', { taskId: 't', token: 14, value: 'v', start: 100, end: 400 }, { at: 99 })
      .attempt('w2', 'release', { taskId: 't', token: 14 }, 'ok', { at: 210 })
      .lease('w3', { taskId: 't', token: 20, value: 'v', start: 215, end: 300 }, { at: 212, dur: 3 })
      .ack('w3', 't', 20, 'ok', { at: 230 });
    const verdict = checkAll(b.history(), undefined, {});
    expect(verdict.checks.exclusive.valid).toBe(true);
    expect(verdict.status).toBe('pass');
  });

  it('exclusive: a grant that arrives after its own belief end holds nothing and overlaps nothing', () => {
    // w3's answer is a late replay of an old grant (token 12): its belief ended before it arrived.
    const b = new HistoryBuilder()
      .enqueue('p', { seq: 1, value: 'v', taskId: 't' })
      .lease('w2', { taskId: 't', token: 14, value: 'v', start: 100, end: 400 }, { at: 99 })
      .lease('w3', { taskId: 't', token: 12, value: 'v', start: 200, end: 150 }, { at: 20, dur: 180 })
      .ack('w2', 't', 14, 'ok', { at: 230 });
    const verdict = checkAll(b.history(), undefined, {});
    expect(verdict.checks.exclusive.details).not.toHaveProperty('overlap');
    // The same grant with a belief that had not ended is an overlap.
    const live = new HistoryBuilder()
      .enqueue('p', { seq: 1, value: 'v', taskId: 't' })
      .lease('w2', { taskId: 't', token: 14, value: 'v', start: 100, end: 400 }, { at: 99 })
      .lease('w3', { taskId: 't', token: 12, value: 'v', start: 200, end: 250 }, { at: 20, dur: 180 });
    expect(checkAll(live.history()).checks.exclusive.details).toMatchObject({ overlap: 1 });
  });

  it('exclusive: an extend moves the belief end, and the overlap it creates is caught', () => {
    const b = new HistoryBuilder()
      .enqueue('p', { seq: 1, value: 'v', taskId: 't' })
      .lease('w2', { taskId: 't', token: 14, value: 'v', start: 100, end: 150 }, { at: 99 })
      .attempt('w2', 'extend', { taskId: 't', token: 14, beliefEnd: 260 }, 'ok', { at: 120 })
      .lease('w3', { taskId: 't', token: 20, value: 'v', start: 250, end: 300 }, { at: 240, dur: 10 });
    expect(checkAll(b.history()).checks.exclusive.details).toMatchObject({ overlap: 1 });
  });

  it('exclusive: tokens go backwards, or one token is granted twice', () => {
    const backwards = run().lease('w9', { taskId: 't3', token: 5, value: 'p1-3' }, { at: 400 });
    expect(failing(backwards.history()).verdict.checks.exclusive.details).toMatchObject({ 'token-order': 2 });
    const reused = run().lease('w9', { taskId: 't3', token: 20, value: 'p1-3' }, { at: 400 });
    expect(failing(reused.history()).verdict.checks.exclusive.details).toMatchObject({ 'token-reused': 1 });
  });

  it('staleAcksRefused: an ack with an old token succeeds after a newer grant', () => {
    const { verdict, failed } = failing(run({ staleAckOutcome: 'ok' }).history());
    expect(failed).toContain('staleAcksRefused');
    expect(failed).toContain('singleCompletion');
    expect(verdict.checks.staleAcksRefused.examples[0]).toMatchObject({ kind: 'stale-accepted', token: '14' });
  });

  it('staleAcksRefused: a repeat of the call that (maybe) ended an attempt gets its original answer', () => {
    const base = (): HistoryBuilder =>
      new HistoryBuilder()
        .enqueue('p', { seq: 1, value: 'v', taskId: 't' })
        .lease('w1', { taskId: 't', token: 30, value: 'v' }, { at: 10 })
        .attempt('w1', 'nack', { taskId: 't', token: 30 }, 'ok', { at: 20 })
        .lease('w2', { taskId: 't', token: 32, value: 'v' }, { at: 30 });
    const repeat = base().attempt('w1', 'nack', { taskId: 't', token: 30 }, 'ok', { at: 40 });
    const r1 = checkStaleAcksRefused(indexHistory(repeat.history()));
    expect(r1).toMatchObject({ valid: true, details: { repeats: 1 } });
    const unknownOriginal = new HistoryBuilder()
      .enqueue('p', { seq: 1, value: 'v', taskId: 't' })
      .lease('w1', { taskId: 't', token: 30, value: 'v' }, { at: 10 })
      .attempt('w1', 'release', { taskId: 't', token: 30 }, 'info', { at: 20, error: 'UNAVAILABLE' })
      .lease('w2', { taskId: 't', token: 32, value: 'v' }, { at: 30 })
      .attempt('w1', 'release', { taskId: 't', token: 30 }, 'ok', { at: 40 });
    expect(checkStaleAcksRefused(indexHistory(unknownOriginal.history())).valid).toBe(true);
    const stale = base().attempt('w1', 'ack', { taskId: 't', token: 30 }, 'ok', { at: 40 });
    expect(checkStaleAcksRefused(indexHistory(stale.history())).valid).toBe(false);
  });

  it('singleCompletion: two tokens complete one task', () => {
    const b = run().ack('w9', 't1', 11, 'ok', { at: 400 });
    const { verdict, failed } = failing(b.history());
    expect(failed).toEqual(['singleCompletion']);
    expect(verdict.checks.singleCompletion.examples[0]).toMatchObject({ taskId: 't1', tokens: ['10', '11'] });
  });

  it('singleCompletion: the same token acked twice is one completion', () => {
    const b = run().ack('w1', 't1', 10, 'ok', { at: 400 });
    expect(failing(b.history()).failed).toEqual([]);
  });

  it('noAckLost: a task leased again after its ack, or pending in the final read', () => {
    const regranted = run().lease('w9', { taskId: 't1', token: 40, value: 'p1-1' }, { at: 400 });
    const r = failing(regranted.history());
    expect(r.failed).toContain('noAckLost');
    expect(r.verdict.checks.noAckLost.details).toMatchObject({ 'granted-after-ack': 1 });
    const reads = allDone.map((t) => (t.taskId === 't1' ? { ...t, state: 'waiting' as const } : t));
    const pending = failing(run({ reads }).history());
    expect(pending.failed).toEqual(['noAckLost']);
    expect(pending.verdict.checks.noAckLost.details).toMatchObject({ 'final-not-completed': 2 });
  });

  it('groupOrder: a group task leased while an earlier one is still open', () => {
    const b = run()
      .enqueue('q1', { seq: 1, value: 'q1-1', group: 'h', taskId: 't11' }, 'ok', { at: 400 })
      .enqueue('q1', { seq: 2, value: 'q1-2', group: 'h', taskId: 't12' }, 'ok', { at: 403 })
      .lease('w9', { taskId: 't12', token: 80, value: 'q1-2', group: 'h' }, { at: 410 })
      .ack('w9', 't12', 80, 'ok', { at: 420 });
    const reads = [...allDone, { taskId: 't11', value: 'q1-1', state: 'waiting' as const }, done('t12', 'q1-2')];
    b.read('n1', reads, { at: 500 }).read('n2', reads, { at: 502 });
    const { verdict, failed } = failing(b.history());
    expect(failed).toEqual(['groupOrder']);
    expect(verdict.checks.groupOrder.examples[0]).toMatchObject({ group: 'h', leased: 'q1-2', blockedBy: 'q1-1' });
  });

  it('groupOrder: concurrent enqueues have no order unless task ids give one', () => {
    const b = new HistoryBuilder()
      .enqueue('a', { seq: 1, value: 'a1', group: 'h', taskId: 't-1' }, 'ok', { at: 1, dur: 10 })
      .enqueue('b', { seq: 1, value: 'b1', group: 'h', taskId: 't-2' }, 'ok', { at: 2, dur: 10 })
      .lease('w', { taskId: 't-2', token: 20, value: 'b1' }, { at: 20 })
      .read('n1', [
        { taskId: 't-1', value: 'a1', state: 'waiting' },
        { taskId: 't-2', value: 'b1', state: 'leased' },
      ]);
    expect(checkAll(b.history()).checks.groupOrder.valid).toBe(true);
    const byId = checkAll(b.history(), undefined, { compareTaskIds: (x, y) => x.localeCompare(y) });
    expect(byId.checks.groupOrder.valid).toBe(false);
  });

  it('agreement: two nodes with different digests at a common index', () => {
    const fin = final();
    fin.digests['n2'] = [
      { index: 10, digest: 'aa' },
      { index: 20, digest: 'XX' },
      { index: 30, digest: 'cc' },
    ];
    const { verdict, failed } = failing(run().history(), fin);
    expect(failed).toEqual(['agreement']);
    expect(verdict.checks.agreement).toMatchObject({ count: 1, details: { compared: 2, diverged: 1 } });
  });

  it('readsAgree: final reads through two nodes differ', () => {
    const b = run().read('n2', allDone.slice(1), { at: 500 });
    const { verdict, failed } = failing(b.history());
    expect(failed).toEqual(['readsAgree']);
    expect(verdict.checks.readsAgree.examples[0]).toMatchObject({ taskId: 't1', states: { n2: 'absent' } });
  });

  it('recovery: a node that serves no probe within the bound after the heal', () => {
    const fin = final({
      recovery: [
        { node: 'n1', time: 100, ok: true },
        { node: 'n2', time: 30_010, ok: true },
      ],
    });
    const { verdict, failed } = failing(run().history(), fin);
    expect(failed).toEqual(['recovery']);
    expect(verdict.checks.recovery.examples[0]).toMatchObject({ node: 'n2', firstOkProbe: 30_010 });
  });
});

describe('checker - harness failures', () => {
  it('a run below its minimums is a harness failure, never a pass', () => {
    const verdict = checkAll(run().history(), final(), { minimums: { ...minimums, faults: { partition: 1 } } });
    expect(Object.values(verdict.checks).every((r) => r.valid)).toBe(true);
    expect(verdict.status).toBe('harness-failure');
    expect(verdict.valid).toBe(false);
    expect(verdict.harness.shortfalls).toEqual(['faults of kind partition: 0 < 1']);
  });

  it('a violation wins over a shortfall', () => {
    const verdict = checkAll(run({ staleAckOutcome: 'ok' }).history(), final(), { minimums: { ok: 1000 } });
    expect(verdict.status).toBe('fail');
    expect(verdict.harness.valid).toBe(false);
  });

  it('malformed ops are counted and fail the harness, without throwing', () => {
    const junk = [
      { process: 'x', type: 'ok', f: 'ack', value: { taskId: 't', token: '1' }, time: 1 }, // no invoke
      { process: 'y', type: 'invoke', f: 'ack', value: { taskId: 't', token: 'abc' }, time: 2 },
      { process: 'y', type: 'ok', f: 'ack', value: null, time: 3 },
      { process: 'z', type: 'invoke', f: 'lease', value: null, time: 4 },
      { process: 'z', type: 'ok', f: 'lease', value: { taskId: 7 }, time: 5 },
    ] as unknown as Op[];
    const verdict = checkAll([...run().history(), ...junk.map((o) => ({ ...o, time: o.time + 1000 }))], final());
    expect(verdict.stats.malformed).toBe(3);
    expect(verdict.status).toBe('harness-failure');
  });
});

describe('checker - recorder, parsing and rendering', () => {
  it('the recorder streams JSON lines that parse back to the same history', () => {
    let clock = 0;
    const lines: string[] = [];
    const rec = new HistoryRecorder({ now: () => (clock += 1), write: (l) => lines.push(l) });
    rec.fault('partition', 'start');
    const e = rec.invoke('p1', 'enqueue', { producer: 'p1', seq: 1, value: 'p1-1' }, 'n1');
    e.ok({ producer: 'p1', seq: 1, value: 'p1-1', taskId: 't1' });
    const l = rec.invoke('w1', 'lease', null);
    l.info('DEADLINE_EXCEEDED');
    expect(() => l.ok(null)).toThrow();
    rec.leader('n2', 3);
    rec.finish({ digests: { n1: [{ index: 1, digest: 'd' }] } });
    expect(lines).toHaveLength(7);
    const parsed = parseHistory(lines.join('') + 'not json\n{"also":"not an op"}\n');
    expect(parsed.ops).toEqual(rec.ops());
    expect(parsed.final).toEqual(rec.final());
    expect(parsed.malformedLines).toBe(2);
    expect(parseHistory(rec.toJsonLines()).ops).toEqual(rec.ops());
    expect(parsed.ops[4]).toMatchObject({ type: 'info', f: 'lease', error: 'DEADLINE_EXCEEDED', time: 5 });
    expect(checkJsonLines(rec.toJsonLines()).stats).toMatchObject({
      malformed: 0,
      enqueued: 1,
      faults: { partition: 1 },
    });
    const torn = checkJsonLines(rec.toJsonLines() + '{"process":');
    expect(torn.stats.malformed).toBe(1);
    expect(torn.harness.shortfalls).toEqual(['malformed ops: 1 > 0']);
  });

  it('summary names the status, the counts and the violations', () => {
    const pass = summary(checkAll(run().history(), final(), { minimums }));
    expect(pass).toMatch(/^raftq history check: PASS/);
    expect(pass).toContain('lost 0, completed twice 0');
    const reads = allDone.filter((t) => t.value !== 'p1-2');
    const fail = summary(checkAll(run({ leaseP12: false, reads }).history(), final()));
    expect(fail).toMatch(/^raftq history check: FAIL/);
    expect(fail).toContain('lost 1');
    expect(fail).toMatch(/FAIL lost +1 violation/);
    const short = summary(checkAll(run().history(), final(), { minimums: { ok: 1000 } }));
    expect(short).toContain('HARNESS FAILURE');
    expect(short).toContain('ok operations: 10 < 1000');
  });

  it('the timeline is a self-contained page with both panels and shaded faults', () => {
    const html = timelineSvg(run().history());
    expect(html).toMatch(/^<!doctype html>/);
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html.match(/<title>kill<\/title><\/rect>/g)).toHaveLength(2);
    expect(html).toContain('<polyline');
    expect(html.match(/<circle /g)?.length).toBe(
      run()
        .history()
        .filter((o) => o.type !== 'invoke' && o.f !== 'fault' && o.f !== 'leader' && o.f !== 'read').length,
    );
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(timelineSvg([])).toContain('0 ops');
  });
});

describe('checker - failover time', () => {
  /** A kill signalled at 100; the dying leader still answered a call invoked right after (done at 101). */
  function killed(recordedAt: number, since?: number): Op[] {
    const b = new HistoryBuilder();
    b.leader('n1', 1);
    b.enqueue('p1', { seq: 1, value: 'a', taskId: 't1' }, 'ok', { at: 50 });
    b.enqueue('p1', { seq: 2, value: 'b', taskId: 't2' }, 'ok', { at: 100.5, dur: 0.5 });
    b.ops.push({
      process: 'nemesis',
      type: 'info',
      f: 'fault',
      value: since === undefined ? { kind: 'kill', action: 'start' } : { kind: 'kill', action: 'start', since },
      time: recordedAt,
    });
    // Calls invoked after the exit fail until the new leader answers at 900.
    b.enqueue('p2', { seq: 1, value: 'c', taskId: 't3' }, 'ok', { at: 106, dur: 794 });
    b.enqueue('p1', { seq: 3, value: 'd', taskId: 't4' }, 'ok', { at: 901 });
    return b.history();
  }

  it('counts from the kill to the first success the dead leader cannot have served', () => {
    const verdict = checkAll(killed(105, 100), final(), {});
    expect(verdict.stats.failoverMs).toBe(800);
  });

  it('a fault recorded at its signal without `since` keeps the old rule (what the demo printed: 1 ms)', () => {
    expect(checkAll(killed(100), final(), {}).stats.failoverMs).toBe(1);
  });
});
