// Limits and durations renamed to the one naming rule (architecture issue §5): the new names work,
// the old ones still do with a one-time DeprecationWarning, and the new name wins over the old.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { CoalescingTransport } from '../../../src/client/coalesce.js';
import type { WorkerOptions } from '../../../src/client/worker.js';
import { resolveConfig } from '../../../src/node/config.js';
import { FakeClock, FakeCluster, LoopbackTransport } from './fakes.js';

let warnings: string[] = [];
const onWarning = (w: Error): void => void warnings.push(w.message);
let clients: Client[] = [];

beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(async () => {
  process.off('warning', onWarning);
  for (const c of clients) await c.close({ timeoutMs: 0 }).catch(() => undefined);
  clients = [];
});

/** process.emitWarning delivers on the next tick. */
const nextTick = (): Promise<void> => new Promise((r) => process.nextTick(r));

function client(opts: Record<string, unknown> = {}): Client {
  const clock = new FakeClock();
  const transport = new LoopbackTransport(new FakeCluster(clock, 1));
  const c = new Client({ servers: ['127.0.0.1:7001'], transport, clock, ...opts });
  clients.push(c);
  return c;
}

describe('renamed options', () => {
  it('worker: marginMs / holdMsMax / electionTimeoutMsMax, and the old names with a warning', async () => {
    const w = client().worker('q', () => undefined, { leaseMs: 10_000, marginMs: 900, holdMsMax: 0 });
    expect([w.marginMs, w.holdMsMax, w.margin, w.maxHoldMs]).toEqual([900, 0, 900, 0]);
    await w.close({ timeoutMs: 0 });
    const old = { leaseMs: 10_000, margin: 800, maxHoldMs: 100, electionTimeoutMaxMs: 3_000 } as WorkerOptions;
    const v = client().worker('q', () => undefined, old);
    expect([v.marginMs, v.holdMsMax]).toEqual([800, 100]);
    await v.close({ timeoutMs: 0 });
    // The old election bound is still read: 800 + 3 × 3000 > 9000 is refused.
    expect(() => client().worker('q', () => undefined, { ...old, leaseMs: 9_000 })).toThrow(/leaseMs/);
    await nextTick();
    expect(warnings.filter((m) => m.includes('deprecated')).sort()).toEqual(
      expect.arrayContaining([
        expect.stringContaining('"margin" is deprecated; use "marginMs"'),
        expect.stringContaining('"maxHoldMs" is deprecated; use "holdMsMax"'),
        expect.stringContaining('"electionTimeoutMaxMs" is deprecated; use "electionTimeoutMsMax"'),
      ]),
    );
    const both = client().worker('q', () => undefined, { ...old, marginMs: 700 });
    expect(both.marginMs).toBe(700); // the new name wins
    await both.close({ timeoutMs: 0 });
  });

  it('client: pendingCallsMax / retryMsMin / retryMsMax; coalescer: itemsMax / bytesMax', async () => {
    expect(() => client({ pendingCallsMax: 0 })).toThrow(/pendingCallsMax/);
    expect(() => client({ maxPendingCalls: -1 })).toThrow(/pendingCallsMax/); // the old name still read
    expect(() => client({ retryMsMax: 0 })).toThrow(/retryMsMax/);
    expect(() => client({ retryMinMs: 0 })).toThrow(/retryMsMin/);
    const inner = new LoopbackTransport(new FakeCluster(new FakeClock(), 1));
    const t = new CoalescingTransport(inner, { maxItems: 3, bytesMax: 100 });
    expect((t as unknown as { itemsMax: number; bytesMax: number }).itemsMax).toBe(3);
    await t.close();
    await nextTick();
    expect(warnings.join('\n')).toMatch(/"maxItems" is deprecated; use "itemsMax"/);
  });

  it('node: --snapshot-every-entries, and the old --snapshot-every / RAFTQ_SNAPSHOT_EVERY with a warning', async () => {
    const base = {
      id: 'n1',
      listen: '127.0.0.1:7001',
      peerListen: '127.0.0.1:7101',
      peers: 'n1=127.0.0.1:7101',
      dataDir: '/tmp/x',
    };
    expect(resolveConfig({ ...base, snapshotEveryEntries: '500' }, {}).snapshotEveryEntries).toBe(500);
    expect(warnings).toEqual([]);
    expect(resolveConfig({ ...base, snapshotEvery: '400' }, {}).snapshotEveryEntries).toBe(400);
    expect(resolveConfig(base, { RAFTQ_SNAPSHOT_EVERY: '300' }).snapshotEveryEntries).toBe(300);
    expect(
      resolveConfig({ ...base, snapshotEveryEntries: '200' }, { RAFTQ_SNAPSHOT_EVERY: '300' }).snapshotEveryEntries,
    ).toBe(200);
    expect(resolveConfig(base, {}).snapshotEveryEntries).toBe(10_000);
    await nextTick();
    expect(warnings.join('\n')).toMatch(
      /--snapshot-every \/ RAFTQ_SNAPSHOT_EVERY .* is deprecated; use --snapshot-every-entries/,
    );
  });
});
