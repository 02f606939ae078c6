import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-harness.js';

// Issue 17: with no reachable server, a command fails naming the addresses it tried, within
// --timeout-ms, without grpc-js's empty "Resolution note:".
let dead: string[] = [];
const holders: net.Server[] = [];

beforeAll(async () => {
  // Two ports nobody listens on: bind, read the port, close.
  for (let i = 0; i < 2; i++) {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    dead.push(`127.0.0.1:${(s.address() as net.AddressInfo).port}`);
    holders.push(s);
  }
  await Promise.all(holders.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

afterAll(() => {
  dead = [];
});

describe('cli - no reachable server', () => {
  it('names the addresses it tried and is bounded by --timeout-ms', async () => {
    const started = performance.now();
    const r = await runCli(['enqueue', 'q', '{"a":1}', '--servers', dead.join(','), '--timeout-ms', '1500']);
    const took = performance.now() - started;
    expect(r.code).not.toBe(0);
    for (const a of dead) expect(r.err).toContain(a);
    expect(r.err).not.toMatch(/Resolution note: ?\n?$/m);
    expect(took).toBeLessThan(1500 + 2000);
  });
});
