// A task's story (issue 15): every transition a task can go through is a step of the story a read of
// the task carries, with the index and term of the entry that made it and that entry's stamps; the
// recorded part is bounded per task, with a marker where steps were dropped. Each test drives one
// family of transitions through the real state machine and asserts the steps it left.
import { describe, expect, it } from 'vitest';
import type { Command, LeasedTask, StoryStep, TaskView } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { mut } from '../../../src/statemachine/digest.js';
import { STORY_HEAD, STORY_STEPS_MAX } from '../../../src/statemachine/story.js';
import { Sim } from '../schedules/model.js';
import { Driver, WALL0, bytes } from './harness.js';

type Leased = { tasks: LeasedTask[] };
const enq = (queue: string, tasks: Record<string, unknown>[]) =>
  ({ type: 'enqueue', queue, tasks: tasks.map((t) => ({ payload: bytes(1), ...t })) }) as never;
const lease = (queue: string, extra: Record<string, unknown> = {}) =>
  ({ type: 'lease', queue, workerId: 'w1', max: 1, ...extra }) as never;

function story(d: Driver, id: string): StoryStep[] {
  return d.read<TaskView>({ type: 'task', id }).story ?? [];
}

/** [kind, index, term] of each step, and the details by kind, for compact assertions. */
function entries(s: StoryStep[]): [string, number, number | undefined][] {
  return s.map((x) => [x.kind, x.index, x.term]);
}

function leaseOne(d: Driver, queue = 'q', extra: Record<string, unknown> = {}): LeasedTask {
  return (d.value<Leased>(lease(queue, extra)).tasks as [LeasedTask])[0];
}

/** The same machine restored from its snapshot tells the same stories, digest included. */
function expectRestoredSame(d: Driver, ids: string[]): void {
  const e = new QueueStateMachine();
  e.restore([...d.sm.snapshot()]);
  expect(e.digest()).toBe(d.sm.digest());
  for (const id of ids) expect(e.read({ type: 'task', id }).answer).toEqual(d.sm.read({ type: 'task', id }).answer);
}

describe("statemachine - a task's story records every transition (issue 15)", () => {
  it('delay over, lease, extend, progress and checkpoint, retry with backoff, ready again, lease expiry, ack', () => {
    const d = new Driver();
    d.term = 2;
    d.value({ type: 'createQueue', queue: 'q', settings: { backoff: { type: 'fixed', delayMs: 500, jitterPct: 0 } } });
    const id = (
      d.value<{ items: { id: string }[] }>(enq('q', [{ delayMs: 1000, maxAttempts: 5 }])).items[0] as {
        id: string;
      }
    ).id;
    const created = d.index;
    d.term = 3;
    d.run({ type: 'advanceTime' }, 1000); // the delay is over: ready at this entry
    const ready = d.index;
    const readyMono = d.mono;
    const a = leaseOne(d, 'q', { leaseMs: 5000 });
    d.value({ type: 'extend', id, token: a.token, leaseMs: 6000 } as Command);
    const extended = d.index;
    d.value({ type: 'extend', id, token: a.token, progress: 40, checkpoint: bytes(1, 2, 3) } as Command);
    const progressed = d.index;
    d.term = 4;
    d.value({ type: 'nack', id, token: a.token, error: 'boom' } as Command);
    const nacked = d.index;
    d.run({ type: 'advanceTime' }, 500); // backoff over
    const readyAgain = d.index;
    const b = leaseOne(d, 'q', { leaseMs: 1000 });
    d.run({ type: 'advanceTime' }, 1000); // the lease runs out: back to waiting
    const expired = d.index;
    const c = leaseOne(d);
    d.value({ type: 'ack', items: [{ id, token: c.token }] } as Command);
    const acked = d.index;

    const s = story(d, id);
    expect(entries(s)).toEqual([
      ['enqueued', created, 2],
      ['ready', ready, 3],
      ['leased', Number(a.token), 3],
      ['extended', extended, 3],
      ['progress', progressed, 3],
      ['attempt_ended', nacked, 4],
      ['retry', nacked, 4],
      ['ready', readyAgain, 4],
      ['leased', Number(b.token), 4],
      ['attempt_ended', expired, 4],
      ['retry', expired, 4],
      ['leased', Number(c.token), 4],
      ['attempt_ended', acked, 4],
      ['ended', acked, 4],
    ]);
    const at = (i: number): StoryStep => s[i] as StoryStep;
    expect([at(1).mono, at(1).wall]).toEqual([readyMono, WALL0 + readyMono]);
    expect(at(3).detail).toBe('lease 6000 ms');
    expect(at(4).detail).toBe('lease 6000 ms, progress 40, checkpoint 3 bytes');
    expect([at(5).end, at(5).error, at(5).attempt, at(5).token]).toEqual(['nacked', 'boom', 1, a.token]);
    expect(at(6).detail).toBe('in 500 ms (backoff); 1 of 5 attempts failed');
    expect([at(9).end, at(10).detail]).toEqual(['lease_expired', 'lease expired: delivery 1 of 5, waiting again']);
    expect([at(11).attempt, at(11).workerId]).toEqual([3, 'w1']);
    expect([at(13).state, at(13).detail]).toEqual(['completed', 'acked']);
    // Every step but the markers has its entry's stamps.
    for (const x of s) expect(typeof x.mono, x.kind).toBe('number');
    expectRestoredSame(d, [id]);
  });

  it('a nack with a delay asked by the worker, and one that retries at once', () => {
    const d = new Driver();
    d.value(enq('q', [{ maxAttempts: 3 }]));
    const a = leaseOne(d);
    d.value({ type: 'nack', id: a.id, token: a.token, delayMs: 250 } as Command);
    d.run({ type: 'advanceTime' }, 250);
    const b = leaseOne(d);
    d.value({ type: 'nack', id: b.id, token: b.token, delayMs: 0 } as Command);
    const retries = story(d, a.id).filter((x) => x.kind === 'retry');
    expect(retries.map((x) => x.detail)).toEqual([
      'in 250 ms (delay asked by the worker); 1 of 3 attempts failed',
      'at once; 2 of 3 attempts failed',
    ]);
  });

  it('promote, update (payload, priority, delay) and a debounce replacing the payload', () => {
    const d = new Driver();
    d.value(enq('q', [{ delayMs: 60_000 }]));
    d.value({ type: 'promote', id: '1' } as Command);
    const promoted = d.index;
    d.value({ type: 'update', id: '1', payload: bytes(1, 2), priority: 7, delayMs: 5000 } as Command);
    const updated = d.index;
    const dedup = { key: 'k', mode: 'debounce', windowMs: 60_000 };
    d.value(enq('q', [{ dedup }]));
    d.value(enq('q', [{ dedup, payload: bytes(9, 9, 9) }]));
    const replaced = d.index;
    expect(entries(story(d, '1')).slice(1)).toEqual([
      ['promoted', promoted, undefined],
      ['updated', updated, undefined],
    ]);
    expect(story(d, '1')[2]?.detail).toBe('payload (2 bytes), priority 0 → 7, delay 5000 ms');
    const kept = story(d, '2');
    expect(entries(kept).map(([k, i]) => [k, i])).toEqual([
      ['enqueued', replaced - 1],
      ['replaced', replaced],
    ]);
    expect(kept[1]?.detail).toBe("debounce: a later enqueue's payload (3 bytes)");
  });

  it('a cancel request while it runs, then its end as cancelled', () => {
    const d = new Driver();
    d.value(enq('q', [{}]));
    const a = leaseOne(d);
    d.value({ type: 'cancel', id: a.id, running: true } as Command);
    const asked = d.index;
    d.value({ type: 'nack', id: a.id, token: a.token } as Command);
    const s = story(d, a.id);
    expect(entries(s).map(([k, i]) => [k, i])).toEqual([
      ['enqueued', 1],
      ['leased', 2],
      ['cancel_requested', asked],
      ['attempt_ended', asked + 1],
      ['ended', asked + 1],
    ]);
    expect([s[2]?.detail, s[4]?.state]).toEqual([`while attempt 1 ran (token ${a.token})`, 'cancelled']);
  });

  it('dependencies ending, the release they make, and a failure that kills the dependant', () => {
    const d = new Driver();
    d.value(enq('q', [{}, {}]));
    d.value(enq('join', [{ dependsOn: [{ id: '1' }, { id: '2', policy: 'ignore' }] }, { dependsOn: [{ id: '1' }] }]));
    const a = leaseOne(d);
    d.value({ type: 'ack', items: [{ id: a.id, token: a.token }] } as Command);
    const first = d.index;
    d.value({ type: 'cancel', id: '2' } as Command);
    const second = d.index;
    expect(story(d, '3').map((x) => [x.kind, x.index, x.detail])).toEqual([
      ['enqueued', 2, undefined],
      ['dependency', first, '1 ended completed'],
      ['dependency', second, '2 ended cancelled: ignored (policy ignore)'],
      ['ready', second, 'every dependency ended'],
    ]);
    expect(story(d, '4').map((x) => [x.kind, x.index])).toEqual([
      ['enqueued', 2],
      ['dependency', first],
      ['ready', first],
    ]);
    // A dependency failing on a `fail` edge ends the dependant: the step says why, then its end.
    d.value(enq('q', [{}]));
    d.value(enq('join', [{ dependsOn: [{ id: '5' }] }]));
    d.value({ type: 'cancel', id: '5' } as Command);
    const s = story(d, '6');
    expect(s.slice(1).map((x) => [x.kind, x.index, x.state, x.detail])).toEqual([
      ['dependency', d.index, undefined, '5 ended cancelled: this task fails (policy fail)'],
      ['ended', d.index, 'dead', 'dependency_failed'],
    ]);
  });

  it('dead-lettered, redriven (the dead task and its letter), and TTL expiry', () => {
    const d = new Driver();
    d.value({ type: 'createQueue', queue: 'q', settings: { deadLetterQueue: 'dlq' } } as Command);
    d.value(enq('q', [{ maxAttempts: 1 }]));
    const a = leaseOne(d);
    d.value({ type: 'nack', id: a.id, token: a.token, error: 'bad' } as Command);
    const died = d.index;
    const dead = d.read<TaskView>({ type: 'task', id: a.id });
    const letter = dead.deadLetterId as string;
    expect(
      story(d, a.id)
        .slice(-2)
        .map((x) => [x.kind, x.index, x.detail]),
    ).toEqual([
      ['ended', died, 'max_attempts'],
      ['dead_lettered', died, `copied to dlq as ${letter}`],
    ]);
    expect(story(d, letter).map((x) => [x.kind, x.index, x.detail])).toEqual([
      ['enqueued', died, `dead letter of ${a.id} in q (max_attempts)`],
    ]);
    const r = d.value<{ items: { from: string; id: string }[] }>({ type: 'redrive', queue: 'dlq', ids: [letter] });
    const back = (r.items[0] as { id: string }).id;
    expect(
      story(d, letter)
        .slice(1)
        .map((x) => [x.kind, x.index, x.detail]),
    ).toEqual([
      ['redriven', d.index, `to q as ${back}`],
      ['ended', d.index, 'redriven'],
    ]);
    expect(story(d, back)[0]).toMatchObject({ kind: 'enqueued', index: d.index, detail: `redriven from ${letter}` });
    // A dead task without a letter queue is redriven itself (it stays dead).
    d.value(enq('p', [{ maxAttempts: 1 }]));
    const b = leaseOne(d, 'p');
    d.value({ type: 'nack', id: b.id, token: b.token } as Command);
    const again = d.value<{ items: { id: string }[] }>({ type: 'redrive', queue: 'p', ids: [b.id] });
    expect(story(d, b.id).at(-1)).toMatchObject({ kind: 'redriven', detail: `to p as ${again.items[0]?.id}` });
    // TTL: it expires unstarted.
    d.value(enq('t', [{ ttlMs: 1000 }]));
    const tid = d.read<{ items: TaskView[] }>({ type: 'list', queue: 't', state: 'waiting' }).items[0]?.id as string;
    d.run({ type: 'advanceTime' }, 1000);
    expect(story(d, tid).at(-1)).toMatchObject({ kind: 'ended', index: d.index, state: 'expired', detail: 'ttl' });
    expectRestoredSame(d, [a.id, letter, back, b.id, tid]);
  });

  it("a schedule's slot firing and a manual trigger", () => {
    const T0 = Date.parse('2026-06-01T00:00:00Z');
    const sim = new Sim();
    const task = { payload: bytes(1) };
    sim.apply([{ type: 'upsertSchedule', queue: 'q', id: 's', everyMs: 1000, task } as Command], T0);
    sim.drain(T0 + 1000);
    const fired = sim.tasks('q');
    expect(fired.length).toBe(1);
    const read = (id: string): StoryStep[] =>
      (sim.sm.read({ type: 'task', id }).answer as { value: TaskView }).value.story ?? [];
    const s = read((fired[0] as TaskView).id);
    expect(s.map((x) => x.kind)).toEqual(['enqueued', 'scheduled']);
    expect(s[1]?.index).toBe(s[0]?.index);
    expect(s[1]?.detail).toBe(`schedule s, slot ${new Date(T0 + 1000).toISOString()}`);
    const a = sim.apply([{ type: 'triggerSchedule', queue: 'q', id: 's' }], T0 + 1500)[0]?.answer;
    const manual = read((a as { value: { taskId: string } }).value.taskId);
    expect(manual[1]?.detail).toMatch(/^schedule s, slot .* \(triggered by hand\)$/);
  });
});

describe("statemachine - a task's story is bounded", () => {
  it('keeps the first steps and the latest, and marks how many were dropped between which entries', () => {
    const d = new Driver();
    d.value(enq('q', [{}]));
    const a = leaseOne(d, 'q', { leaseMs: 60_000 });
    const extends_: number[] = [];
    for (let i = 0; i < STORY_STEPS_MAX + 10; i++) {
      d.value({ type: 'extend', id: a.id, token: a.token } as Command);
      extends_.push(d.index);
    }
    const s = story(d, a.id);
    const recorded = s.filter((x) => x.kind === 'extended');
    expect(recorded.length).toBe(STORY_STEPS_MAX);
    expect(recorded.map((x) => x.index)).toEqual([...extends_.slice(0, STORY_HEAD), ...extends_.slice(-28)]);
    const marker = s.filter((x) => x.kind === 'truncated');
    const gone = extends_.slice(STORY_HEAD, STORY_HEAD + 10);
    expect(marker).toEqual([
      { kind: 'truncated', index: gone[0], detail: `10 steps from #${gone[0]} to #${gone[9]} not kept` },
    ]);
    // In log order: right after the head it kept.
    expect(s.findIndex((x) => x.kind === 'truncated')).toBe(2 + STORY_HEAD);
    expectRestoredSame(d, [a.id]);
  });

  it('marks the attempts no longer kept', () => {
    const d = new Driver({ limits: { historyMax: 2 } });
    d.value(enq('q', [{ maxAttempts: 10 }]));
    for (let i = 0; i < 3; i++) {
      const a = leaseOne(d);
      d.value({ type: 'nack', id: a.id, token: a.token, delayMs: 0 } as Command);
    }
    const s = story(d, '1');
    const leased = s.filter((x) => x.kind === 'leased');
    expect(leased.map((x) => x.attempt)).toEqual([2, 3]);
    const i = s.findIndex((x) => x.kind === 'truncated');
    expect(s[i]?.detail).toBe('1 earlier attempt not kept');
    expect(s[i + 1]).toBe(leased[0]);
  });

  it('replicas whose stories differ have different digests', () => {
    const a = new Driver();
    const b = new Driver();
    for (const d of [a, b]) {
      d.value(enq('q', [{ delayMs: 1000 }]));
      d.run({ type: 'advanceTime' }, 1000);
    }
    expect(a.sm.digest()).toBe(b.sm.digest());
    const t = b.sm.state.tasks.get(1);
    if (t?.story === undefined) throw new Error('no story');
    // Flip the recorded step's kind on one replica only, through the digest's own bookkeeping.
    mut(b.sm.state, t, () => ((t.story?.steps[0] as { kind: string }).kind = 'promoted'));
    expect(b.sm.digest()).not.toBe(a.sm.digest());
  });
});
