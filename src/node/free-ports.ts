// Loopback ports for local clusters and tests. A port found by binding to port 0 lies in the
// kernel's ephemeral range, so while its node is stopped (a kill / restart test) any outgoing
// connection on the machine may take it as its local port, and the restart fails with EADDRINUSE
// (seen in a jepsen-like run). Ports below that range are never handed out for outgoing
// connections: only another listener choosing the same port can collide, and we check that.
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';

/** Where listeners are picked when the ephemeral range is known: [16384, its start). */
const LOW_PORT = 16_384;

/** The start of the kernel's ephemeral port range (Linux), or null where it cannot be read. */
export function ephemeralPortStart(file = '/proc/sys/net/ipv4/ip_local_port_range'): number | null {
  try {
    const lo = Number(readFileSync(file, 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(lo) && lo > 0 ? lo : null;
  } catch {
    return null;
  }
}

function listen(port: number, host: string): Promise<Server | null> {
  return new Promise((ok) => {
    const s = createServer();
    s.once('error', () => ok(null));
    s.listen({ port, host, exclusive: true }, () => ok(s));
  });
}

function close(s: Server): Promise<void> {
  return new Promise((ok) => s.close(() => ok()));
}

/** n distinct free loopback ports, below the ephemeral range when it is known (closed before use). */
export async function freePorts(n: number, host = '127.0.0.1', start = ephemeralPortStart()): Promise<number[]> {
  const held: Server[] = [];
  if (start !== null && start - LOW_PORT >= 1024) {
    for (let tries = 0; held.length < n && tries < n * 20; tries++) {
      const s = await listen(LOW_PORT + randomInt(start - LOW_PORT), host);
      if (s !== null) held.push(s);
    }
  }
  // Unknown range (or a crowded one): the kernel's choice, as before.
  while (held.length < n) {
    const s = await listen(0, host);
    if (s === null) throw new Error(`no free port on ${host}`);
    held.push(s);
  }
  const ports = held.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(held.map(close));
  return ports;
}
