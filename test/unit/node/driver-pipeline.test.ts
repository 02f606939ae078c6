// Pipelined persistence (driver.ts): a follower takes its next Ready while an earlier write is still
// in flight, and its acknowledgements still go out only after their writes, in order; committed
// entries apply at once, durable here or not.
import { describe, expect, it } from 'vitest';
import type { Entry, Message } from '../../../src/raft/types.js';
import { followerN1, fromLeader, noops } from './driver-fakes.js';

const append = (prev: number, entries: Entry[], commit: number): Message =>
  fromLeader({ type: 'Append', index: prev, logTerm: prev === 0 ? 0 : 1, entries, commit });

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const acks = (sent: Message[]): number[] => sent.filter((m) => m.type === 'AppendResp').map((m) => m.index ?? -1);

describe('driver - pipelined writes', () => {
  it('takes the next write while one is in flight; acknowledges each only after its write, in order', async () => {
    const { driver, disk, sent } = followerN1({ pipelineDepth: 4 });
    driver.receive(append(0, noops(1, 5), 0));
    await turn();
    driver.receive(append(5, noops(6, 5), 5));
    await turn();
    expect(disk.calls).toBe(2); // the second write was queued while the first is held
    expect(acks(sent)).toEqual([]);
    // Committed 1..5 are durable on a majority: applied at once, before this node's own write.
    expect(driver.appliedIndex()).toBe(5);
    disk.release();
    await turn();
    expect(acks(sent)).toEqual([5]);
    disk.release();
    await turn();
    expect(acks(sent)).toEqual([5, 10]);
    driver.stop();
  });

  it('a snapshot waits until the entries it covers are durable here', async () => {
    // n1 ranks second among the members: a due snapshot first waits a stagger of seconds on this clock.
    let now = 0;
    const clock = { monoMs: () => now, wallMs: () => now };
    const { driver, disk } = followerN1({ pipelineDepth: 4, snapshotEvery: 5, clock });
    const begun: number[] = [];
    const begin = disk.beginSnapshot.bind(disk);
    disk.beginSnapshot = (meta) => (begun.push(meta.index), begin(meta));
    driver.receive(append(0, noops(1, 5), 0));
    await turn();
    driver.receive(append(5, noops(6, 5), 5));
    await turn();
    disk.release(); // 1..5 durable: a snapshot at 5 is due from now on, after the stagger
    await turn();
    driver.receive(append(10, noops(11, 5), 15));
    await turn();
    expect(driver.appliedIndex()).toBe(15); // committed: applied before 6..15 are written here
    now += 60_000;
    disk.release(); // 6..10 durable, the stagger over: but 11..15 are not durable here yet
    await turn();
    expect(begun).toEqual([]);
    disk.release();
    await turn();
    expect(begun).toEqual([15]);
    driver.stop();
  });

  it('with pipelineDepth 1, the next write waits for the one in flight', async () => {
    const { driver, disk, sent } = followerN1({ pipelineDepth: 1 });
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
