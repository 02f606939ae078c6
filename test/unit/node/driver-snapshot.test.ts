// Regression (jepsen-like short run, seed 20261122): a follower persisting a Ready with committed
// entries received the leader's snapshot meanwhile (step() between ready() and advance()); after
// applying the old Ready it tried to take its own snapshot at an index the replaced log no longer
// knew, and the driver stopped the node ("raft invariant: snapshot at 262: term unknown").
import type { LogIndex } from '../../../src/protocol/ids.js';
import { describe, expect, it } from 'vitest';
import { NodeDriver, type DurableLog } from '../../../src/node/driver.js';
import { gatheringSink, type SnapshotSink } from '../../../src/node/driver-types.js';
import { systemClock } from '../../../src/node/log-clock.js';
import { makeRaftConfig } from '../../../src/raft/config.js';
import { RaftNode } from '../../../src/raft/node.js';
import { Rng } from '../../../src/raft/rng.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import {
  EntryType,
  type Entry,
  type Membership,
  type Message,
  type Snapshot,
  type SnapshotMeta,
} from '../../../src/raft/types.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';

const membership: Membership = {
  members: [
    { id: 'n1', storageId: 's1', address: 'n1:1', role: 'voter' },
    { id: 'L', storageId: 'sL', address: 'L:1', role: 'voter' },
    { id: 'n3', storageId: 's3', address: 'n3:1', role: 'voter' },
  ],
};

/** A durable log whose first write is held until the test releases it; writes complete in call order. */
class HeldDisk implements DurableLog {
  release: () => void = () => {};
  private held = true;
  private tail: Promise<void> = Promise.resolve();
  constructor(readonly mirror: MemoryStorage) {}
  persistReady(r: Parameters<DurableLog['persistReady']>[0]): Promise<void> {
    const hold = this.held;
    this.held = false;
    const gate = hold ? new Promise<void>((resolve) => (this.release = resolve)) : Promise.resolve();
    this.tail = Promise.all([this.tail, gate]).then(() => {
      if (r.snapshot !== null) this.mirror.applySnapshot(r.snapshot);
      this.mirror.append(r.entries);
      if (r.hardState !== null) this.mirror.setHardState(r.hardState);
    });
    return this.tail;
  }
  durableCommit(): LogIndex {
    return this.mirror.hardState().commit;
  }
  async sync(): Promise<void> {}
  beginSnapshot(meta: SnapshotMeta): SnapshotSink {
    return gatheringSink(meta, (snap, options) => this.createSnapshot(snap, options));
  }
  async createSnapshot(snap: Snapshot, options: { compactTo?: number }): Promise<void> {
    this.mirror.createSnapshot(snap);
    this.mirror.compact(options.compactTo ?? snap.meta.index);
  }
}

function fromLeader(m: Omit<Message, 'group' | 'term' | 'from' | 'fromStorage' | 'to'>): Message {
  return { group: 0, term: 1, from: 'L', fromStorage: 'sL', to: 'n1', ...m } as Message;
}

describe('driver - a leader snapshot arriving during a persist', () => {
  it('takes no local snapshot at an index the replaced log no longer knows, and installs the leader one', async () => {
    const mirror = new MemoryStorage(membership);
    const disk = new HeldDisk(mirror);
    const raft = new RaftNode(makeRaftConfig({ id: 'n1', storageId: 's1', group: 0 }), mirror, new Rng(1));
    const fatal: Error[] = [];
    const driver = new NodeDriver({
      clusterId: 'c',
      raft,
      storage: mirror,
      durable: disk,
      sm: new QueueStateMachine(),
      send: () => {},
      clock: systemClock,
      timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
      log: { info: () => {}, warn: () => {}, error: () => {} },
      tickMs: 1_000_000,
      snapshotEvery: 60,
      snapshotKeep: 0,
      startCommit: 0,
      onFatal: (e) => fatal.push(e),
    });
    // 70 committed entries: their Ready's write is held.
    const entries: Entry[] = Array.from({ length: 70 }, (_, k) => ({
      index: asLogIndex(k + 1),
      term: asTerm(1),
      type: EntryType.NoOp,
      data: new Uint8Array(),
    }));
    driver.receive(fromLeader({ type: 'Append', index: 0, logTerm: 0, entries, commit: 70 }));
    await new Promise((r) => setImmediate(r));
    // Meanwhile the leader, far ahead, sends its snapshot at 200.
    const data = new Uint8Array(Buffer.concat([...new QueueStateMachine().snapshot()]));
    driver.receive(
      fromLeader({
        type: 'Snapshot',
        snapshot: {
          meta: { group: 0, index: asLogIndex(200), term: asTerm(1), membership },
          offset: 0,
          chunk: data,
          done: true,
          total: data.length,
        },
      }),
    );
    disk.release();
    const deadline = Date.now() + 5_000;
    while (driver.appliedIndex() < 200 && fatal.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(fatal.map((e) => e.stack)).toEqual([]);
    expect(driver.appliedIndex()).toBe(200);
    expect(mirror.snapshot()?.meta.index).toBe(200);
    driver.stop();
  });
});
