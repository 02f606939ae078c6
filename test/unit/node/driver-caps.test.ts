// The driver's bounds and its fatal path, on a one-node cluster whose disk the test holds: commands
// in flight count toward pendingCommandsMax, pending linearizable reads are capped, the status reports
// the election timeout, and a failed write stops the node with the error (and stack) in its log.
import type { LogIndex } from '../../../src/protocol/ids.js';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeDriver, type DurableLog } from '../../../src/node/driver.js';
import { gatheringSink, type SnapshotSink } from '../../../src/node/driver-types.js';
import { systemClock } from '../../../src/node/log-clock.js';
import { AssertionError } from '../../../src/protocol/assert.js';
import { makeRaftConfig } from '../../../src/raft/config.js';
import { RaftNode } from '../../../src/raft/node.js';
import { Rng } from '../../../src/raft/rng.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import type { Entry, Membership, Snapshot, SnapshotMeta } from '../../../src/raft/types.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';

const membership: Membership = { members: [{ id: 'n1', storageId: 's1', address: 'n1:1', role: 'voter' }] };

/** A disk that writes at once until `hold()`; then each write waits for `release()` (or fails). */
class Disk implements DurableLog {
  private gate: { release(): void; fail(e: Error): void } | null = null;
  private gateDone: Promise<void> | null = null;
  private holding = false;
  constructor(readonly mirror: MemoryStorage) {}
  hold(): void {
    this.holding = true;
  }
  release(): void {
    this.holding = false;
    this.gate?.release();
  }
  failWith(e: Error): void {
    this.gate?.fail(e);
  }
  get held(): boolean {
    return this.gate !== null;
  }
  durableCommit(): LogIndex {
    return this.mirror.hardState().commit;
  }
  async sync(): Promise<void> {}
  async readEntries(): Promise<Entry[]> {
    return [];
  }
  private tail: Promise<void> = Promise.resolve();
  /** Writes complete in call order (the DurableLog contract); held ones all wait for the one gate. */
  persistReady(r: Parameters<DurableLog['persistReady']>[0]): Promise<void> {
    let wait: Promise<void> = Promise.resolve();
    if (this.holding) {
      this.gateDone ??= new Promise<void>((resolve, reject) => (this.gate = { release: resolve, fail: reject }));
      wait = this.gateDone;
    }
    const write = Promise.all([this.tail, wait]).then(() => {
      this.gate = null;
      this.gateDone = null;
      if (r.snapshot !== null) this.mirror.applySnapshot(r.snapshot);
      this.mirror.append(r.entries);
      if (r.hardState !== null) this.mirror.setHardState(r.hardState);
    });
    this.tail = write.catch(() => undefined);
    return write;
  }
  beginSnapshot(meta: SnapshotMeta): SnapshotSink {
    return gatheringSink(meta, (snap) => this.createSnapshot(snap));
  }
  async createSnapshot(snap: Snapshot): Promise<void> {
    this.mirror.createSnapshot(snap);
  }
}

const drivers: NodeDriver[] = [];
afterEach(() => {
  for (const d of drivers.splice(0)) d.stop();
});

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function leader(opts: { pendingCommandsMax?: number; pendingReadsMax?: number; pipelineDepth?: number } = {}) {
  const mirror = new MemoryStorage(membership);
  const disk = new Disk(mirror);
  const raft = new RaftNode(
    makeRaftConfig({ id: 'n1', storageId: 's1', group: 0, electionTicks: 4, heartbeatTicks: 1 }),
    mirror,
    new Rng(1),
  );
  const fatal: Error[] = [];
  const errors: object[] = [];
  const driver = new NodeDriver({
    clusterId: 'c',
    raft,
    storage: mirror,
    durable: disk,
    sm: new QueueStateMachine(),
    send: () => {},
    clock: systemClock,
    timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
    log: { info: () => {}, warn: () => {}, error: (o) => errors.push(o) },
    tickMs: 5,
    electionTicks: 4,
    snapshotEvery: 1_000_000,
    startCommit: 0,
    onFatal: (e) => fatal.push(e),
    ...opts,
  });
  drivers.push(driver);
  driver.start();
  await until(() => driver.status().role === 'leader' && driver.ready(), 'leadership');
  return { driver, disk, fatal, errors };
}

const cmd = { session: null, seq: 0, cmd: { type: 'advanceTime' as const } };
const deadline = (): number => systemClock.monoMs() + 5_000;

describe('driver caps and fatal path', () => {
  it('reports its election timeout in ms', async () => {
    const { driver } = await leader();
    expect(driver.status().electionTimeoutMs).toEqual({ min: 20, max: 40 });
  });

  it('counts commands in flight toward pendingCommandsMax', async () => {
    const { driver, disk } = await leader({ pendingCommandsMax: 1 });
    disk.hold();
    const first = driver.execute([cmd], { deadline: deadline() });
    await until(() => disk.held, 'the first write to be held');
    const refused = await driver.execute([cmd], { deadline: deadline() });
    expect(refused.answers[0]).toMatchObject({
      ok: false,
      error: { code: 'RESOURCE_EXHAUSTED', limit: 'pendingCommands' },
    });
    disk.release();
    expect((await first).answers[0]?.ok).toBe(true);
  });

  it('caps pending linearizable reads', async () => {
    // One write at a time: the read's Ready waits behind the held write (pipelined, it would be served).
    const { driver, disk } = await leader({ pendingReadsMax: 1, pipelineDepth: 1 });
    disk.hold();
    void driver.execute([cmd], { deadline: deadline() });
    await until(() => disk.held, 'a write to be held');
    const q = { type: 'stats' as const, queue: 'q' };
    const first = driver.read(q, { consistency: 'linearizable', deadline: deadline() });
    const refused = await driver.read(q, { consistency: 'linearizable', deadline: deadline() });
    expect(refused.answer).toMatchObject({ ok: false, error: { code: 'RESOURCE_EXHAUSTED', limit: 'pendingReads' } });
    disk.release();
    expect((await first).answer).toBeDefined();
  });

  it('stops on a failed write and logs the error object, stack included', async () => {
    const { driver, disk, fatal, errors } = await leader();
    disk.hold();
    const pending = driver.execute([cmd], { deadline: deadline() });
    await until(() => disk.held, 'a write to be held');
    disk.failWith(new AssertionError('planted invariant failure'));
    await until(() => fatal.length > 0, 'onFatal');
    expect(fatal[0]).toBeInstanceOf(AssertionError);
    const logged = errors.find((o) => 'err' in o) as { err: Error } | undefined;
    expect(logged?.err).toBe(fatal[0]);
    expect(logged?.err.stack).toContain('planted invariant failure');
    expect((await pending).answers[0]).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    expect(driver.ready()).toBe(false);
  });
});
