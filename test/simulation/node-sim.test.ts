import { describe, expect, it } from 'vitest';
import { runNodeSeed, type NodeSimOptions, type NodeSimTotals } from './node/sim.js';

// The whole node (driver + Raft + state machine, the client service and the SDK) under the seeded
// simulation. A failure names its seed: replay it with
// `npx tsx test/simulation/node/cli.ts --seed S --nodes N --trace`.

async function runSeeds(nodes: number, first: number, count: number, extra: Partial<NodeSimOptions> = {}) {
  const failures: string[] = [];
  /** Seeds whose SDK clients never sent a Submit (the coalescer is the default path: every seed has one). */
  const withoutSubmit: number[] = [];
  const totals: Partial<NodeSimTotals> = {};
  for (let seed = first; seed < first + count; seed++) {
    const r = await runNodeSeed({ seed, nodes, ...extra });
    if (r.violations.length > 0) failures.push(`seed ${seed} (${nodes} nodes): ${r.violations.join('; ')}`);
    if (r.totals.submitCalls === 0) withoutSubmit.push(seed);
    for (const [k, v] of Object.entries(r.totals) as [keyof NodeSimTotals, number][]) totals[k] = (totals[k] ?? 0) + v;
  }
  return { failures, withoutSubmit, totals: totals as NodeSimTotals };
}

function expectCoverage(t: NodeSimTotals, seeds: number): void {
  expect(t.crashes).toBeGreaterThanOrEqual(seeds);
  expect(t.crashesLosingWrites).toBeGreaterThan(0);
  expect(t.partitions).toBeGreaterThanOrEqual(seeds);
  expect(t.blackouts).toBeGreaterThanOrEqual(seeds);
  expect(t.wallJumps).toBeGreaterThanOrEqual(seeds);
  expect(t.enqueueAcked).toBeGreaterThan(20 * seeds);
  expect(t.enqueueUnknown).toBeGreaterThan(0);
  expect(t.completed).toBeGreaterThan(20 * seeds);
  expect(t.leaseExpiries).toBeGreaterThan(0);
  expect(t.extends).toBeGreaterThan(0);
  expect(t.nacks).toBeGreaterThan(0);
  expect(t.releases).toBeGreaterThan(0);
  expect(t.dead).toBeGreaterThan(0);
  expect(t.beliefGrants).toBeGreaterThan(20 * seeds);
  expect(t.workerRestarts).toBeGreaterThan(0);
  expect(t.clusterPowerLosses).toBeGreaterThan(0);
  expect(t.handlersStartedLate).toBe(0);
  // The client history the checker judged (src/checker) is not empty: every seed drained and read
  // every node (at least 3 per seed) and recorded its enqueues, grants and settles.
  expect(t.finalReads).toBeGreaterThanOrEqual(3 * seeds);
  expect(t.historyOps).toBeGreaterThan(200 * seeds);
  expect(t.historyCompleted).toBeGreaterThan(20 * seeds);
  // The SDK's default path: coalesced Submits, waitFor (answers checked, watches failed by a
  // step-down re-established) and an events() subscriber (its events checked against the final read).
  expect(t.submitItems).toBeGreaterThan(2 * t.submitCalls - 1);
  expect(t.waitForAnswered).toBeGreaterThanOrEqual(3 * seeds);
  expect(t.waitForStepDowns).toBeGreaterThan(0);
  expect(t.waitForReestablished).toBeGreaterThan(0);
  expect(t.eventStreams).toBeGreaterThanOrEqual(2 * seeds);
  expect(t.eventsReceived).toBeGreaterThan(100 * seeds);
  expect(t.eventsTerminalChecked).toBeGreaterThan(5 * seeds);
  // (deadUndecodable is not asserted here: a known SDK bug, see node-regressions.test.ts.)
}

describe('node simulation - 3 nodes', () => {
  for (const first of [1, 21]) {
    it(`seeds ${first}..${first + 19}: safe, live, every fault class`, async () => {
      const { failures, withoutSubmit, totals } = await runSeeds(3, first, 20);
      expect(failures).toEqual([]);
      expect(withoutSubmit).toEqual([]);
      expectCoverage(totals, 20);
    });
  }
});

describe('node simulation - 5 nodes', () => {
  for (const first of [1001, 1021]) {
    it(`seeds ${first}..${first + 19}: safe, live, every fault class`, async () => {
      const { failures, withoutSubmit, totals } = await runSeeds(5, first, 20);
      expect(failures).toEqual([]);
      expect(withoutSubmit).toEqual([]);
      expectCoverage(totals, 20);
      expect(totals.snapshotsInstalled).toBeGreaterThan(0);
    });
  }
});

describe('node simulation - slow disk (fsync 2-30 ms)', () => {
  // Slow commits make leases answered late or from the session cache (payload fetched afterwards) common:
  // beliefs that end before their handler starts. Seed 1043 takes that path (the seeds move
  // whenever the timing of the commit path changes: scan with test/simulation/node/cli.ts --fsync 2,30).
  it('seeds 1040..1059 (3 nodes): safe, live, no handler starts or works past its belief end', async () => {
    const { failures, totals } = await runSeeds(3, 1040, 20, { fsyncMs: [2, 30] });
    expect(failures).toEqual([]);
    expect(totals.handlersStartedLate).toBe(0);
    expect(totals.startsAbandoned).toBeGreaterThan(0);
    expect(totals.completed).toBeGreaterThan(20 * 20);
    expect(totals.crashesLosingWrites).toBeGreaterThan(0);
  });
});

describe('node simulation - wall clock jumps while long leases are held', () => {
  // Safety only (long handlers drain slowly); the same setting with a wall-clock lease clock is caught
  // in node-planted.test.ts.
  it('seeds 1..10 (3 nodes): 15 jumps of up to an hour, handlers of 0.5-2.5 s', async () => {
    const { failures, totals } = await runSeeds(3, 1, 10, { wallJumps: 15, handlerMs: [500, 2500], liveness: false });
    expect(failures).toEqual([]);
    expect(totals.wallJumps).toBeGreaterThan(100);
    expect(totals.extends).toBeGreaterThan(50);
  });
});

describe('node simulation - replay and clock bounds', () => {
  it('the same seed gives the same run', async () => {
    const a = await runNodeSeed({ seed: 7, nodes: 3 });
    const b = await runNodeSeed({ seed: 7, nodes: 3 });
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.totals).toEqual(a.totals);
    const c = await runNodeSeed({ seed: 8, nodes: 3 });
    expect(c.traceHash).not.toBe(a.traceHash);
  });

  it('monotonic clocks drifting beyond ρ = 0.1 % (nodes 2× fast): the exclusivity check fires', async () => {
    // Expected failure: leases expire (on the leaders' fast clocks) before the workers' beliefs end.
    const found: string[] = [];
    for (let seed = 1; seed <= 8 && found.length === 0; seed++) {
      const r = await runNodeSeed({
        seed,
        nodes: 3,
        nodeRateFactor: 2,
        clientBlackouts: 10,
        handlerMs: [1000, 3000],
        liveness: false,
      });
      found.push(
        ...r.violations.filter((v) => /belief overlap|belief outlives lease|still works|two valid leases/.test(v)),
      );
    }
    expect(found.length).toBeGreaterThan(0);
  });
});
