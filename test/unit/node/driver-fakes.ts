// Fakes shared by the driver's unit tests: a three-voter membership seen from follower n1 with leader
// L, a durable log whose writes can be held and complete in call order (the DurableLog contract),
// and the leader's messages.
import { NodeDriver, type DriverOptions, type DurableLog } from '../../../src/node/driver.js';
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

export const threeVoters: Membership = {
  members: [
    { id: 'n1', storageId: 's1', address: 'n1:1', role: 'voter' },
    { id: 'L', storageId: 'sL', address: 'L:1', role: 'voter' },
    { id: 'n3', storageId: 's3', address: 'n3:1', role: 'voter' },
  ],
};

/** Writes held while `holding` (each until release() lets the oldest go); all complete in call order. */
export class GatedDisk implements DurableLog {
  calls = 0;
  private gates: (() => void)[] = [];
  private tail: Promise<void> = Promise.resolve();
  constructor(
    readonly mirror: MemoryStorage,
    public holding = true,
  ) {}
  persistReady(r: Parameters<DurableLog['persistReady']>[0]): Promise<void> {
    this.calls++;
    const gate = this.holding ? new Promise<void>((resolve) => this.gates.push(resolve)) : Promise.resolve();
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
  /** Nothing to read back: this disk's mirror is the log itself (the driver evicts nothing below its default). */
  async readEntries(): Promise<Entry[]> {
    return [];
  }
  beginSnapshot(meta: SnapshotMeta): SnapshotSink {
    return gatheringSink(meta, (snap, options) => this.createSnapshot(snap, options));
  }
  async createSnapshot(snap: Snapshot, options: { compactTo?: number } = {}): Promise<void> {
    this.mirror.createSnapshot(snap);
    this.mirror.compact(options.compactTo ?? snap.meta.index);
  }
}

/** A message from leader L (term 1) to n1. */
export function fromLeader(m: Omit<Message, 'group' | 'term' | 'from' | 'fromStorage' | 'to'>): Message {
  return { group: 0, term: 1, from: 'L', fromStorage: 'sL', to: 'n1', ...m } as Message;
}

/** n no-op entries of term 1 from index `from` on. */
export const noops = (from: number, n: number): Entry[] =>
  Array.from({ length: n }, (_, k) => ({
    index: asLogIndex(from + k),
    term: asTerm(1),
    type: EntryType.NoOp,
    data: new Uint8Array(),
  }));

/** Follower n1's driver over a gated disk; what it sends and any fatal error are collected. */
export function followerN1(options: Partial<DriverOptions> & { holding?: boolean } = {}) {
  const { holding, ...rest } = options;
  const mirror = new MemoryStorage(threeVoters);
  const disk = new GatedDisk(mirror, holding ?? true);
  const sent: Message[] = [];
  const fatal: Error[] = [];
  const raft = new RaftNode(makeRaftConfig({ id: 'n1', storageId: 's1', group: 0 }), mirror, new Rng(1));
  const driver = new NodeDriver({
    clusterId: 'c',
    raft,
    storage: mirror,
    durable: disk,
    sm: new QueueStateMachine(),
    send: (msgs) => void sent.push(...msgs),
    clock: systemClock,
    timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
    log: { info: () => {}, warn: () => {}, error: () => {} },
    tickMs: 1_000_000,
    snapshotEvery: 1_000_000,
    startCommit: 0,
    onFatal: (e) => fatal.push(e),
    ...rest,
  });
  return { driver, disk, sent, fatal, mirror };
}
