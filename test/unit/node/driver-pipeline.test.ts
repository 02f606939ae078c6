// Pipelined persistence (driver.ts): a follower takes its next Ready while an earlier write is still
// in flight, and its acknowledgements still go out only after their writes, in order.
import { describe, expect, it } from 'vitest';
import { NodeDriver, type DurableLog } from '../../../src/node/driver.js';
import { gatheringSink, type SnapshotSink } from '../../../src/node/driver-types.js';
import { systemClock } from '../../../src/node/log-clock.js';
import { asLogIndex, asTerm, type LogIndex } from '../../../src/protocol/ids.js';
import { makeRaftConfig } from '../../../src/raft/config.js';
import { RaftNode } from '../../../src/raft/node.js';
import { Rng } from '../../../src/raft/rng.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import { EntryType, type Entry, type Membership, type Message, type Snapshot } from '../../../src/raft/types.js';
import type { SnapshotMeta } from '../../../src/raft/types.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';

const membership: Membership = {
  members: [
    { id: 'n1', storageId: 's1', address: 'n1:1', role: 'voter' },
    { id: 'L', storageId: 'sL', address: 'L:1', role: 'voter' },
    { id: 'n3', storageId: 's3', address: 'n3:1', role: 'voter' },
  ],
};

/** Every write waits for release(); writes complete in call order, as the DurableLog contract says. */
class GatedDisk implements DurableLog {
  calls = 0;
  private gates: (() => void)[] = [];
  private tail: Promise<void> = Promise.resolve();
  constructor(readonly mirror: MemoryStorage) {}
  persistReady(r: Parameters<DurableLog['persistReady']>[0]): Promise<void> {
    this.calls++;
    const gate = new Promise<void>((resolve) => this.gates.push(resolve));
    this.tail = Promise.all([this.tail, gate]).then(() => {
      if (r.snapshot !== null) this.mirror.applySnapshot(r.snapshot);
      this.mirror.append(r.entries);
      if (r.hardState !== null) this.mirror.setHardState(r.hardState);
    });
    return this.tail;
  }
  /** Lets the oldest held write complete. */
  release(): void {
    this.gates.shift()?.();
  }
  durableCommit(): LogIndex {
    return this.mirror.hardState().commit;
  }
  async sync(): Promise<void> {}
  beginSnapshot(meta: SnapshotMeta): SnapshotSink {
    return gatheringSink(meta, (snap) => this.createSnapshot(snap));
  }
  async createSnapshot(snap: Snapshot): Promise<void> {
    this.mirror.createSnapshot(snap);
  }
}

const noops = (from: number, n: number): Entry[] =>
  Array.from({ length: n }, (_, k) => ({
    index: asLogIndex(from + k),
    term: asTerm(1),
    type: EntryType.NoOp,
    data: new Uint8Array(),
  }));

function append(prev: number, entries: Entry[], commit: number): Message {
  return {
    type: 'Append',
    group: 0,
    term: 1,
    from: 'L',
    fromStorage: 'sL',
    to: 'n1',
    index: prev,
    logTerm: prev === 0 ? 0 : 1,
    entries,
    commit,
  } as Message;
}

function follower(pipelineDepth: number) {
  const mirror = new MemoryStorage(membership);
  const disk = new GatedDisk(mirror);
  const sent: Message[] = [];
  const raft = new RaftNode(makeRaftConfig({ id: 'n1', storageId: 's1', group: 0 }), mirror, new Rng(1));
  const driver = new NodeDriver({
    clusterId: 'c',
    raft,
    storage: mirror,
    durable: disk,
    sm: new QueueStateMachine(),
    send: (msgs) => sent.push(...msgs),
    clock: systemClock,
    timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
    log: { info: () => {}, warn: () => {}, error: () => {} },
    tickMs: 1_000_000,
    snapshotEvery: 1_000_000,
    startCommit: 0,
    pipelineDepth,
    onFatal: (e) => {
      throw e;
    },
  });
  return { driver, disk, sent };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const acks = (sent: Message[]): number[] => sent.filter((m) => m.type === 'AppendResp').map((m) => m.index ?? -1);

describe('driver - pipelined writes', () => {
  it('takes the next write while one is in flight; acknowledges each only after its write, in order', async () => {
    const { driver, disk, sent } = follower(4);
    driver.receive(append(0, noops(1, 5), 0));
    await turn();
    driver.receive(append(5, noops(6, 5), 5));
    await turn();
    expect(disk.calls).toBe(2); // the second write was queued while the first is held
    expect(acks(sent)).toEqual([]);
    expect(driver.appliedIndex()).toBe(0); // committed 1..5 are not durable here yet
    disk.release();
    await turn();
    expect(acks(sent)).toEqual([5]);
    expect(driver.appliedIndex()).toBe(5); // durable now: applied without waiting for the second write
    disk.release();
    await turn();
    expect(acks(sent)).toEqual([5, 10]);
    driver.stop();
  });

  it('with pipelineDepth 1, the next write waits for the one in flight', async () => {
    const { driver, disk, sent } = follower(1);
    driver.receive(append(0, noops(1, 5), 0));
    await turn();
    driver.receive(append(5, noops(6, 5), 5));
    await turn();
    expect(disk.calls).toBe(1);
    disk.release();
    await turn();
    expect(disk.calls).toBe(2);
    disk.release();
    await turn();
    expect(acks(sent)).toEqual([5, 10]);
    driver.stop();
  });
});
