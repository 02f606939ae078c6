// The snapshot policy: when a snapshot is due (entries, bytes, and the wait a large state imposes),
// and a snapshot taken in slices while entries go on being applied: the chunks are the state at the
// index it started from (the state machine's copy-on-write, snapshot-cow.ts).
import { describe, expect, it } from 'vitest';
import { gatheringSink, type DurableLog, type Timers } from '../../../src/node/driver-types.js';
import { SnapshotPolicy, type SnapshotPolicyDeps } from '../../../src/node/snapshot-policy.js';
import type { RaftNode } from '../../../src/raft/node.js';
import { EntryType, type Snapshot, type SnapshotMeta } from '../../../src/raft/types.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import { encodeEnvelope, type Command } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';

const MiB = 1024 * 1024;

function entry(mono: number, cmd: Command): Uint8Array {
  return encodeEnvelope({ v: 1, mono, wall: 1_700_000_000_000 + mono, cmds: [{ session: null, seq: 0, cmd }] });
}

/** Applies `cmd` as the next entry; its answer must be a success (returns its value). */
function applyOk(sm: QueueStateMachine, mono: number, cmd: Command): unknown {
  const [a] = sm.apply(asLogIndex(sm.appliedIndex() + 1), entry(mono, cmd));
  expect(a?.answer).toMatchObject({ ok: true });
  return (a?.answer as { value: unknown }).value;
}

/** Enqueues `n` tasks (commands of up to 1,000). */
function enqueue(sm: QueueStateMachine, mono: number, n: number): void {
  for (let done = 0; done < n; done += 1_000) {
    const k = Math.min(1_000, n - done);
    const tasks = Array.from({ length: k }, (_, i) => ({ payload: new Uint8Array([(done + i) & 255, 7]) }));
    applyOk(sm, mono, { type: 'enqueue', queue: 'q', tasks });
  }
}

/** A state machine with `tasks` waiting tasks. */
function machine(tasks: number): QueueStateMachine {
  const sm = new QueueStateMachine({ events: false });
  applyOk(sm, 1000, { type: 'createQueue', queue: 'q', settings: {} });
  enqueue(sm, 1001, tasks);
  return sm;
}

/** Timers run only when the test says so: each `turn()` runs what is due now, like one event-loop turn. */
class ManualTimers implements Timers {
  private due: (() => void)[] = [];
  setTimeout(fn: () => void, _ms: number): unknown {
    this.due.push(fn);
    return fn;
  }
  clearTimeout(h: unknown): void {
    this.due = this.due.filter((f) => f !== h);
  }
  turn(): number {
    const now = this.due;
    this.due = [];
    for (const f of now) f();
    return now.length;
  }
}

function policy(sm: QueueStateMachine, o: Partial<SnapshotPolicyDeps> = {}) {
  const taken: Snapshot[] = [];
  const timers = new ManualTimers();
  const clock = { ms: 0 };
  const fatal: unknown[] = [];
  const raft = {
    termAt: (i: number) => (i >= 0 ? 1 : undefined),
    snapshotMeta: (index: number) => ({ index, term: 1 }) as unknown as SnapshotMeta,
  } as unknown as RaftNode;
  const durable = {
    beginSnapshot: (meta: SnapshotMeta) =>
      gatheringSink(meta, async (s) => {
        taken.push(s);
      }),
  } as unknown as DurableLog;
  const p = new SnapshotPolicy(
    {
      raft,
      sm,
      durable,
      log: { info: () => {}, warn: () => {}, error: () => {} },
      timers,
      snapshotEvery: 100,
      snapshotEveryBytes: 64 * MiB,
      snapshotKeep: 0,
      snapshotKeepBytes: 16 * MiB,
      storage: new MemoryStorage(),
      sliceChunks: 1,
      sliceMs: 0,
      sliceGapMs: 0,
      now: () => clock.ms,
      rank: () => 0,
      startBytes: 0,
      fatal: (e) => fatal.push(e),
      ...o,
    },
    0,
  );
  return { p, taken, timers, fatal, clock };
}

describe('snapshot policy', () => {
  it('is due after snapshotEvery entries, or after snapshotEveryBytes of applied log', () => {
    const { p } = policy(machine(1));
    expect(p.isDue(99)).toBe(false);
    expect(p.isDue(100)).toBe(true);
    p.noteApplied(64 * MiB);
    expect(p.isDue(5)).toBe(true);
  });

  it('after a large snapshot, waits for its size in applied log before the next', () => {
    const { p } = policy(machine(1), { startBytes: 100 * MiB });
    expect(p.isDue(1_000)).toBe(false);
    p.noteApplied(99 * MiB);
    expect(p.isDue(1_000)).toBe(false);
    p.noteApplied(1 * MiB);
    expect(p.isDue(1_000)).toBe(true);
  });

  it('takes a snapshot over several turns; a quiet state machine gives the state it started from', () => {
    const sm = machine(5_000); // 20 task chunks of up to 256, plus head, queues, sessions, timers, end
    const whole = [...sm.snapshot()];
    const { p, taken, timers, fatal } = policy(sm);
    p.maybeSnapshot(100);
    let turns = 0;
    while (taken.length === 0 && turns < 1_000) turns += timers.turn();
    expect(whole.length).toBeGreaterThan(2);
    expect(turns).toBe(whole.length); // one chunk now, one per turn after, and a last turn that sees the end
    expect(fatal).toEqual([]);
    const restored = new QueueStateMachine({ events: false });
    restored.restore(taken[0]!.data);
    expect(restored.digest()).toBe(sm.digest());
    expect(p.isDue(150)).toBe(false); // snapshotting until the write resolves, then 100 entries from 100
  });

  for (const plant of [false, true]) {
    it(`entries applied while the chunks are taken${plant ? ' (planted: no copy-on-write) mix two states' : ' leave the snapshot at its index'}`, () => {
      // 3,000 tasks leased and completed (retention 0), then 3,000 waiting: 24 task chunks.
      const sm = new QueueStateMachine({ events: false, plantSnapshotNoCow: plant });
      const ap = (mono: number, cmd: Command): unknown => applyOk(sm, mono, cmd);
      const leaseAck = (mono: number, n: number): void => {
        const leased = ap(mono, { type: 'lease', queue: 'q', workerId: 'w', max: n }) as { tasks: { id: string }[] };
        const token = String(sm.appliedIndex());
        expect(leased.tasks).toHaveLength(n);
        ap(mono, { type: 'ack', items: leased.tasks.map((t) => ({ id: t.id, token })) });
      };
      ap(1000, { type: 'createQueue', queue: 'q', settings: { retentionMs: 0 } });
      enqueue(sm, 1001, 3_000);
      for (let k = 0; k < 3; k++) leaseAck(1001, 1_000);
      enqueue(sm, 1002, 3_000);
      const atStart = sm.digest();
      const { p, taken, timers, fatal } = policy(sm, { snapshotEvery: 1 });
      p.maybeSnapshot(sm.appliedIndex());
      expect(sm.state.cows).toHaveLength(plant ? 0 : 1);
      timers.turn();
      // Not yet in a chunk: completed tasks leave by retention, waiting ones are leased and acked; new
      // tasks arrive. Already in a chunk: nothing (the first task chunk was taken).
      leaseAck(3_500, 250);
      ap(3_500, { type: 'lease', queue: 'q', workerId: 'w2', max: 250 });
      enqueue(sm, 3_501, 100);
      timers.turn();
      ap(3_502, { type: 'lease', queue: 'q', workerId: 'w3', max: 1_000 });
      // An online backup's snapshot, taken whole meanwhile, is the state now.
      const now = new QueueStateMachine({ events: false });
      now.restore([...sm.snapshot()]);
      expect(now.digest()).toBe(sm.digest());
      ap(3_503, { type: 'lease', queue: 'q', workerId: 'w4', max: 10 });
      while (taken.length === 0 && timers.turn() > 0);
      expect(fatal).toEqual([]);
      // Meanwhile the 3,000 completed tasks left by retention (their chunks not yet taken).
      expect(sm.taskCounts().find((c) => c.state === 'completed')?.count).toBe(250);
      expect(sm.digest()).not.toBe(atStart);
      const restored = new QueueStateMachine({ events: false });
      if (plant) {
        expect(() => restored.restore(taken[0]!.data)).toThrow(/restore: digest mismatch/);
      } else {
        restored.restore(taken[0]!.data);
        expect(restored.digest()).toBe(atStart);
        expect(restored.appliedIndex()).toBe(13);
        const counts = restored.taskCounts().filter((c) => c.count > 0);
        expect(counts.map((c) => [c.state, c.count])).toEqual([
          ['waiting', 3_000],
          ['completed', 3_000],
        ]);
      }
    });
  }

  it('a turn takes chunks until sliceMs have passed (at least one, at most sliceChunks)', () => {
    const sm = machine(5_000);
    const whole = [...sm.snapshot()];
    const { p, taken, timers, clock } = policy(sm, { sliceChunks: 64, sliceMs: 4 });
    // Each chunk takes 1 ms of this clock: a turn is 4 chunks.
    const deps = { now: () => clock.ms++ };
    const timed = policy(sm, { sliceChunks: 64, sliceMs: 4, ...deps });
    timed.p.maybeSnapshot(100);
    let turns = 1;
    while (timed.taken.length === 0 && turns < 1_000) turns += timed.timers.turn();
    expect(turns).toBe(Math.ceil((whole.length + 1) / 4));
    // With the clock standing still (the simulation's), sliceChunks bounds a turn.
    p.maybeSnapshot(100);
    turns = 1;
    while (taken.length === 0 && turns < 1_000) turns += timers.turn();
    expect(turns).toBe(Math.ceil((whole.length + 1) / 64));
  });

  it('a member waits its rank times twice its last snapshot duration (at least 1 s) before taking one', async () => {
    const sm = machine(1_000);
    const { p, taken, timers, clock } = policy(sm, { rank: () => 2 });
    expect(p.isDue(99)).toBe(false);
    clock.ms = 10_000;
    expect(p.isDue(100)).toBe(false); // due from now: rank 2 waits 2 × 1,000 ms
    clock.ms = 11_999;
    expect(p.isDue(150)).toBe(false);
    clock.ms = 12_000;
    expect(p.isDue(150)).toBe(true);
    p.maybeSnapshot(150);
    clock.ms = 13_200; // the snapshot takes 1,200 ms, start to commit
    while (taken.length === 0 && timers.turn() > 0);
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
    expect(p.isDue(250)).toBe(false); // due from now: 2 × 2 × 1,200 ms
    clock.ms = 13_200 + 4_799;
    expect(p.isDue(250)).toBe(false);
    clock.ms = 13_200 + 4_800;
    expect(p.isDue(250)).toBe(true);
    // No longer due (an installed snapshot): the wait starts over when one is due again.
    p.installed(250, 10);
    expect(p.isDue(300)).toBe(false);
    clock.ms += 10_000;
    expect(p.isDue(350)).toBe(false);
  });

  it('rank 0 takes a due snapshot at once', () => {
    const { p } = policy(machine(1));
    expect(p.isDue(100)).toBe(true);
  });

  it('a snapshot abandoned halfway stops saving rows (the state machine can snapshot again)', () => {
    const sm = machine(3_000);
    const { p, timers } = policy(sm);
    p.maybeSnapshot(100);
    timers.turn();
    p.abandon();
    expect(sm.state.cows).toEqual([]);
    expect([...sm.snapshot()].length).toBeGreaterThan(2);
  });

  it('an installed leader snapshot abandons the one being taken', () => {
    const sm = machine(3_000);
    const { p, taken, timers } = policy(sm);
    p.maybeSnapshot(100);
    p.installed(500, 10);
    expect(sm.state.cows).toEqual([]);
    while (timers.turn() > 0);
    expect(taken).toEqual([]);
    expect(p.isDue(599)).toBe(false);
    expect(p.isDue(600)).toBe(true);
  });

  it('keeps snapshotKeep entries below a snapshot, but no more than snapshotKeepBytes of them', () => {
    const storage = new MemoryStorage();
    // Entries 1..50 of 1 MiB each.
    storage.append(
      Array.from({ length: 50 }, (_, k) => ({
        index: asLogIndex(k + 1),
        term: asTerm(1),
        type: EntryType.Normal,
        data: new Uint8Array(MiB),
      })),
    );
    const { p } = policy(machine(1), { storage, snapshotKeep: 20, snapshotKeepBytes: 8 * MiB });
    expect(p.compactTarget(40)).toBe(32); // entries 33..40: 8 MiB
    expect(p.compactTarget(5)).toBe(0); // under both bounds: nothing below 5 - 20 to drop
    const roomy = policy(machine(1), { storage, snapshotKeep: 20, snapshotKeepBytes: 64 * MiB }).p;
    expect(roomy.compactTarget(40)).toBe(20); // the entry count binds first
  });
});
