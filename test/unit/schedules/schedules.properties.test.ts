// Schedules against a model (issue 12 acceptance): random schedules — cron in time zones across DST
// transitions, and everyMs — random outages (gaps with no entry), wall-clock jumps (ahead and back)
// and pauses. Each slot fires exactly once, or as catchUp says; a snapshot restored mid-way goes on
// to the same digest.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { Sim, expected, runScenario, type Scenario, type Timing } from './model.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

// Just before DST transitions: Europe (2026-03-29, 2026-10-25), the US (2026-03-08, 2026-11-01),
// Lord Howe (30-minute shift, 2026-04-05), and a zone without DST.
const STARTS = [
  Date.parse('2026-03-28T22:00:00Z'),
  Date.parse('2026-10-24T22:00:00Z'),
  Date.parse('2026-03-08T04:00:00Z'),
  Date.parse('2026-11-01T03:00:00Z'),
  Date.parse('2026-04-04T13:00:00Z'),
  Date.parse('2026-06-01T00:00:00Z'),
];
const ZONES = ['Europe/Paris', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'UTC'];
const CRONS = ['30 2 * * *', '*/30 * * * *', '0 */2 * * *', '15 1,2,3 * * *', '0 30 * * * *', '*/20 * * * * *'];

const timing: fc.Arbitrary<Timing> = fc.oneof(
  fc.record({ cron: fc.constantFrom(...CRONS), tz: fc.constantFrom(...ZONES) }),
  fc.record({ everyMs: fc.constantFrom(1000, 7000, 60_000, 15 * MIN) }),
);

const step = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({ dt: fc.integer({ min: 0, max: 10 * MIN }), kind: fc.constant('tick' as const) }),
  },
  // An outage: no entry for a long time.
  {
    weight: 2,
    arbitrary: fc.record({ dt: fc.integer({ min: 10 * MIN, max: 6 * HOUR }), kind: fc.constant('tick' as const) }),
  },
  // The leader's wall clock jumps back (the log's wall never does).
  {
    weight: 1,
    arbitrary: fc.record({ dt: fc.integer({ min: -2 * HOUR, max: -1 }), kind: fc.constant('tick' as const) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      dt: fc.integer({ min: 0, max: 5 * MIN }),
      kind: fc.constantFrom('pause' as const, 'resume' as const),
    }),
  },
);

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    timing,
    catchUp: fc.constantFrom('none' as const, 'latest' as const, 'all' as const),
    graceMs: fc.constantFrom(0, 1000, MIN, 30 * MIN),
    jitterMs: fc.constantFrom(0, 0, 500, 20_000),
    limit: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
    t0: fc.constantFrom(...STARTS),
    steps: fc.array(step, { minLength: 1, maxLength: 25 }),
  })
  .map((s) => (s.limit === undefined ? (({ limit: _l, ...rest }) => rest)(s) : s));

/** Pause windows: pause, some ticks, resume. */
const pausing: fc.Arbitrary<Scenario> = scenario.chain((sc) =>
  fc
    .array(
      fc.tuple(
        fc.integer({ min: 0, max: 10 * MIN }),
        fc.integer({ min: 0, max: 20 * MIN }),
        fc.integer({ min: 0, max: 10 * MIN }),
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((ws) => ({
      ...sc,
      steps: ws.flatMap(([before, during, after]) => [
        { dt: before, kind: 'pause' as const },
        { dt: during, kind: 'tick' as const },
        { dt: 0, kind: 'resume' as const },
        { dt: after, kind: 'tick' as const },
      ]),
    })),
);

function check(sc: Scenario): void {
  const { fired, view, sim } = runScenario(sc);
  const want = expected(sc, sim.walls);
  expect(new Set(fired).size).toBe(fired.length); // no slot fired twice
  expect(fired).toEqual(want.fired);
  expect(view.runs).toBe(want.fired.length);
  if (sc.limit === undefined) expect(view.skipped).toBe(want.skipped);
}

describe('schedules - against a model', () => {
  it('each slot fires exactly once or per catchUp, across DST, outages, clock jumps and pauses', () => {
    fc.assert(fc.property(scenario, check), { numRuns: 120 });
  });

  it('slots due while paused are missed: catchUp decides', () => {
    fc.assert(fc.property(pausing, check), { numRuns: 60 });
  });

  it('a replica restored from a snapshot mid-way reaches the same digest', () => {
    fc.assert(
      fc.property(scenario, fc.nat(), (sc, cut) => {
        const a = new Sim();
        const half = cut % (sc.steps.length + 1);
        runScenario({ ...sc, steps: sc.steps.slice(0, half) }, a);
        const b = new QueueStateMachine();
        b.restore([...a.sm.snapshot()]);
        expect(b.digest()).toBe(a.sm.digest());
        expect(b.nextDue()).toEqual(a.sm.nextDue());
      }),
      { numRuns: 60 },
    );
  });

  it('regression (seed 20261202): a latest run fires once the refill shows the next slot, not at it', () => {
    check({
      timing: { everyMs: 1000 },
      catchUp: 'latest',
      graceMs: 0,
      jitterMs: 0,
      t0: 1774735200000,
      steps: [
        { dt: 4401172, kind: 'tick' },
        { dt: 9153962, kind: 'tick' },
        { dt: 460867, kind: 'tick' },
      ],
    });
  });

  it('regression: slots of a fixed-time cron across the Paris spring-forward gap', () => {
    check({
      timing: { cron: '30 2 * * *', tz: 'Europe/Paris' },
      catchUp: 'latest',
      graceMs: MIN,
      jitterMs: 0,
      t0: Date.parse('2026-03-27T22:00:00Z'),
      steps: Array.from({ length: 12 }, () => ({ dt: 8 * HOUR, kind: 'tick' as const })),
    });
  });
});
