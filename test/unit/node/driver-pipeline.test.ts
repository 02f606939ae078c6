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
