// Reads on the leader compute derived fields at its current log clocks (issue 15): an idle cluster
// appends nothing, so ages computed at the last entry's stamps would freeze. On a one-node cluster
// whose monotonic clock the test moves, the oldest waiting age of an idle queue grows between two
// reads by what the clock moved, asOf names the clocks used, and no entry is appended meanwhile.
import type { LogIndex } from '../../../src/protocol/ids.js';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeDriver, type DurableLog } from '../../../src/node/driver.js';
import { gatheringSink, type SnapshotSink } from '../../../src/node/driver-types.js';
import { systemClock, type ClockSource } from '../../../src/node/log-clock.js';
import type { QueueStats, ReadAnswer, ReadQuery, SessionCommand } from '../../../src/protocol/index.js';
import { makeRaftConfig } from '../../../src/raft/config.js';
import { RaftNode } from '../../../src/raft/node.js';
import { Rng } from '../../../src/raft/rng.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import type { Entry, Membership, Snapshot, SnapshotMeta } from '../../../src/raft/types.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';

const membership: Membership = { members: [{ id: 'n1', storageId: 's1', address: 'n1:1', role: 'voter' }] };

class Disk implements DurableLog {
  constructor(readonly mirror: MemoryStorage) {}
  durableCommit(): LogIndex {
    return this.mirror.hardState().commit;
  }
  async sync(): Promise<void> {}
  async readEntries(): Promise<Entry[]> {
    return [];
  }
  async persistReady(r: Parameters<DurableLog['persistReady']>[0]): Promise<void> {
    if (r.snapshot !== null) this.mirror.applySnapshot(r.snapshot);
    this.mirror.append(r.entries);
    if (r.hardState !== null) this.mirror.setHardState(r.hardState);
  }
  beginSnapshot(meta: SnapshotMeta): SnapshotSink {
    return gatheringSink(meta, (snap) => this.createSnapshot(snap));
  }
  async createSnapshot(snap: Snapshot): Promise<void> {
    this.mirror.createSnapshot(snap);
  }
}

/** The system clock plus a skew the test adds to (both clocks jump together). */
class JumpClock implements ClockSource {
  skew = 0;
  monoMs(): number {
    return systemClock.monoMs() + this.skew;
  }
  wallMs(): number {
    return systemClock.wallMs() + this.skew;
  }
}

const drivers: NodeDriver[] = [];
const fatal: Error[] = [];
afterEach(() => {
  for (const d of drivers.splice(0)) d.stop();
  expect(fatal.splice(0)).toEqual([]);
});

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function leader(clock: ClockSource): Promise<{ driver: NodeDriver; sm: QueueStateMachine; disk: Disk }> {
  const mirror = new MemoryStorage(membership);
  const raft = new RaftNode(
    makeRaftConfig({ id: 'n1', storageId: 's1', group: 0, electionTicks: 4, heartbeatTicks: 1 }),
    mirror,
    new Rng(1),
  );
  const sm = new QueueStateMachine();
  const disk = new Disk(mirror);
  const driver = new NodeDriver({
    clusterId: 'c',
    raft,
    storage: mirror,
    durable: disk,
    sm,
    send: () => {},
    clock,
    timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
    log: { info: () => {}, warn: () => {}, error: () => {} },
    tickMs: 5,
    electionTicks: 4,
    snapshotEvery: 1_000_000,
    startCommit: 0,
    onFatal: (e) => fatal.push(e),
  });
  drivers.push(driver);
  driver.start();
  await until(() => driver.status().role === 'leader' && driver.ready(), 'leadership');
  return { driver, sm, disk };
}

const one = (cmd: SessionCommand['cmd']): SessionCommand => ({ session: null, seq: 0, cmd });
const stats: ReadQuery = { type: 'stats', queue: 'q' };

describe('reads on the leader', () => {
  it("compute an idle queue's oldest waiting age at the leader's current log clock", async () => {
    const clock = new JumpClock();
    const { driver, sm, disk } = await leader(clock);
    const deadline = (): number => clock.monoMs() + 5_000;
    await driver.execute([one({ type: 'createQueue', queue: 'q' })], { deadline: deadline() });
    const enq = await driver.execute(
      [one({ type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([1]) }] })],
      {
        deadline: deadline(),
      },
    );
    expect(enq.answers[0]?.ok).toBe(true);
    const age = (r: ReadAnswer): number =>
      (r.answer.ok ? (r.answer.value as QueueStats).oldestWaitingAgeMs : null) ?? -1;

    const first = await driver.read(stats, { consistency: 'linearizable', deadline: deadline() });
    const lastIndex = disk.mirror.lastIndex();
    clock.skew += 10_000; // ten idle seconds
    const second = await driver.read(stats, { consistency: 'linearizable', deadline: deadline() });
    const stale = await driver.read(stats, { consistency: 'stale', deadline: deadline() });

    // Idle: no entry was appended between the reads, so the state machine's stamps did not move...
    expect(disk.mirror.lastIndex()).toBe(lastIndex);
    expect(second.asOf.index).toBe(first.asOf.index);
    // ...yet the age grew by the ten seconds (and the little real time the reads took).
    expect(age(first)).toBeGreaterThanOrEqual(0);
    expect(age(second) - age(first)).toBeGreaterThanOrEqual(10_000);
    expect(age(second) - age(first)).toBeLessThan(15_000);
    // asOf names the clocks the ages were computed at: the leader's, past the last entry's stamps.
    expect(second.asOf.mono).toBeGreaterThanOrEqual(sm.lastMono() + 10_000);
    expect(second.asOf.wall).toBeGreaterThanOrEqual(sm.lastWall() + 10_000);
    expect(second.asOf.mono - first.asOf.mono).toBe(age(second) - age(first));
    // A stale read on the leader uses its clock too; the state machine itself is untouched by reads.
    expect(age(stale)).toBeGreaterThanOrEqual(age(second));
    expect(sm.read(stats).asOf).toEqual({ index: sm.appliedIndex(), mono: sm.lastMono(), wall: sm.lastWall() });
  });
});
