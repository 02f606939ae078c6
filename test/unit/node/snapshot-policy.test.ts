// The snapshot policy: when a snapshot is due (entries, bytes, and the wait a large state imposes),
// and a snapshot taken in slices: the state machine is `busy` until every chunk is taken, the chunks
// are the state at the index it started from, and the node resumes applying afterwards.
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

/** A state machine with `tasks` waiting tasks after `applied` entries. */
function machine(tasks: number): QueueStateMachine {
  const sm = new QueueStateMachine({ events: false });
  sm.apply(asLogIndex(1), entry(1000, { type: 'createQueue', queue: 'q', settings: {} }));
  const batch = Array.from({ length: tasks }, (_, i) => ({ payload: new Uint8Array([i & 255]) }));
  sm.apply(asLogIndex(2), entry(1001, { type: 'enqueue', queue: 'q', tasks: batch }));
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
  let resumed = 0;
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
      sliceGapMs: 0,
      startBytes: 0,
      fatal: (e) => fatal.push(e),
      resumed: () => resumed++,
      ...o,
    },
    0,
  );
  return { p, taken, timers, fatal, resumed: () => resumed };
}

describe('snapshot policy', () => {
  it('is due after snapshotEvery entries, or after snapshotEveryBytes of applied log', () => {
    const { p } = policy(machine(1));
    expect(p.isDue(99)).toBe(false);
    expect(p.isDue(100)).toBe(true);
    p.noteApplied(64 * MiB);
    expect(p.isDue(5)).toBe(true);
  });

  it('after a large snapshot, waits for half its size in applied log before the next', () => {
    const { p } = policy(machine(1), { startBytes: 100 * MiB });
    expect(p.isDue(1_000)).toBe(false);
    p.noteApplied(49 * MiB);
    expect(p.isDue(1_000)).toBe(false);
    p.noteApplied(1 * MiB);
    expect(p.isDue(1_000)).toBe(true);
  });

  it('takes a snapshot over several turns; the state machine is busy until the last chunk, then it resumes', () => {
    const sm = machine(5_000); // 5 task chunks of up to 1,024, plus head, queues, sessions, timers, end
    const whole = [...sm.snapshot()];
    const { p, taken, timers, fatal, resumed } = policy(sm);
    p.maybeSnapshot(100);
    expect(p.busy).toBe(true);
    let turns = 0;
    while (p.busy && turns < 1_000) turns += timers.turn();
    expect(whole.length).toBeGreaterThan(2);
    expect(turns).toBe(whole.length); // one chunk now, one per turn after, and a last turn that sees the end
    expect(fatal).toEqual([]);
    expect(resumed()).toBe(1);
    expect(taken).toHaveLength(1);
    const restored = new QueueStateMachine({ events: false });
    restored.restore(taken[0]!.data);
    expect(restored.digest()).toBe(sm.digest());
    expect(p.isDue(150)).toBe(false); // snapshotting until the write resolves, then 100 entries from 100
  });

  it('a change to the state while chunks are being taken stops the node instead of writing a mixed snapshot', () => {
    const sm = machine(3_000);
    const { p, taken, timers, fatal } = policy(sm);
    p.maybeSnapshot(100);
    sm.apply(asLogIndex(3), entry(1002, { type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([1]) }] }));
    while (timers.turn() > 0);
    expect(String(fatal[0])).toMatch(/state changed while chunks were being taken/);
    expect(taken).toEqual([]);
  });

  it('an installed leader snapshot abandons the one being taken', () => {
    const sm = machine(3_000);
    const { p, taken, timers } = policy(sm);
    p.maybeSnapshot(100);
    p.installed(500, 10);
    expect(p.busy).toBe(false);
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
