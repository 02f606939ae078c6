// Regression (jepsen-like short run, seed 20261122): a follower persisting a Ready with committed
// entries received the leader's snapshot meanwhile (step() between ready() and advance()); after
// applying the old Ready it tried to take its own snapshot at an index the replaced log no longer
// knew, and the driver stopped the node ("raft invariant: snapshot at 262: term unknown").
import { describe, expect, it } from 'vitest';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { followerN1, fromLeader, noops, threeVoters } from './driver-fakes.js';

describe('driver - a leader snapshot arriving during a persist', () => {
  it('takes no local snapshot at an index the replaced log no longer knows, and installs the leader one', async () => {
    const { driver, disk, fatal, mirror } = followerN1({ snapshotEvery: 60, snapshotKeep: 0 });
    // 70 committed entries: their Ready's write is held (later writes are not, but wait behind it).
    const entries = noops(1, 70);
    driver.receive(fromLeader({ type: 'Append', index: 0, logTerm: 0, entries, commit: 70 }));
    await new Promise((r) => setImmediate(r));
    disk.holding = false;
    // Meanwhile the leader, far ahead, sends its snapshot at 200.
    const data = new Uint8Array(Buffer.concat([...new QueueStateMachine().snapshot()]));
    driver.receive(
      fromLeader({
        type: 'Snapshot',
        snapshot: {
          meta: { group: 0, index: asLogIndex(200), term: asTerm(1), membership: threeVoters },
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
