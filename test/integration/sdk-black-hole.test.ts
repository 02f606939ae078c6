// The SDK's gRPC transport through the jepsen-like fault proxy: a redial that a proxy accepted into a
// black hole does not wedge the channel after the heal (grpc-js gives connection attempts no deadline;
// src/client/channel-guard.ts).
import { afterEach, describe, expect, it } from 'vitest';
import { GrpcTransport } from '../../src/client/grpc-transport.js';
import { TransportError } from '../../src/client/transport.js';
import { ClientServer } from '../../src/rpc/client-server.js';
import { FaultProxy } from '../jepsen-like/lib/fault-proxy.js';
import { MachineExecutor } from '../unit/client/machine-executor.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** One Status call; its error code, or 'OK'. */
async function status(t: GrpcTransport, address: string, timeoutMs: number): Promise<string> {
  try {
    await t.call(address, 'Status', {}, timeoutMs);
    return 'OK';
  } catch (e) {
    if (e instanceof TransportError) return e.detail.code;
    throw e;
  }
}

describe('sdk - the gRPC transport through the fault proxy', () => {
  it('a channel whose redial was accepted into a black hole serves again after the heal', async () => {
    const server = await ClientServer.start({ address: '127.0.0.1:0', executor: new MachineExecutor() });
    cleanup.push(() => server.close());
    const proxy = await FaultProxy.start(server.address);
    cleanup.push(() => proxy.close());
    const t = new GrpcTransport({ connectTimeoutMs: 300 });
    cleanup.push(() => t.close());
    expect(await status(t, proxy.address, 5_000)).toBe('OK');
    // The connection dies; the next call redials into the black hole, and its preface is lost.
    proxy.set({ kind: 'reset' });
    proxy.set({ kind: 'drop' });
    // Calls fail in the hole: at their deadline, or UNAVAILABLE once the guard closed the stuck channel.
    for (let i = 0; i < 10 && proxy.stats().acceptedCount < 2; i += 1)
      expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain(await status(t, proxy.address, 500));
    expect(proxy.stats().acceptedCount).toBeGreaterThanOrEqual(2);
    proxy.set({ kind: 'pass' });
    const healed = Date.now();
    let last = '';
    // Well before a server or proxy would close the silent connection of the stuck attempt.
    while (last !== 'OK' && Date.now() - healed < 3_000) last = await status(t, proxy.address, 500);
    expect(last).toBe('OK');
  });
});
