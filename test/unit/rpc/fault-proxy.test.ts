import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultNetwork, FaultProxy } from '../../jepsen-like/lib/fault-proxy.js';
import { waitFor } from './helpers.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** A target that records what it receives, greets each connection and echoes upper-cased. */
async function target(): Promise<{ address: string; received: () => string; connections: () => number }> {
  let received = '';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.write('hi:');
    s.on('data', (d: Buffer) => {
      received += d.toString();
      s.write(d.toString().toUpperCase());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    received: () => received,
    connections: () => sockets.size,
  };
}

interface Dialled {
  socket: net.Socket;
  text: () => string;
  closed: () => boolean;
}

async function dial(address: string): Promise<Dialled> {
  const [host, port] = address.split(':') as [string, string];
  const socket = net.connect(Number(port), host);
  let text = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (text += d.toString()));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  // A proxy in reset mode may kill the connection before 'connect': then 'close' settles it.
  await new Promise<void>((resolve) => {
    socket.once('connect', () => resolve());
    socket.once('close', () => resolve());
  });
  cleanup.push(() => void socket.destroy());
  return { socket, text: () => text, closed: () => closed };
}

async function proxyTo(address: string): Promise<FaultProxy> {
  const proxy = await FaultProxy.start(address);
  cleanup.push(() => proxy.close());
  return proxy;
}

describe('jepsen-like - TCP fault proxy', () => {
  it('passes bytes both ways', async () => {
    const t = await target();
    const proxy = await proxyTo(t.address);
    const c = await dial(proxy.address);
    c.socket.write('abc');
    await waitFor(() => c.text() === 'hi:ABC', 'echo through the proxy');
    expect(proxy.stats()).toMatchObject({
      acceptedCount: 1,
      openCount: 1,
      forwardedBytes: { forward: 3, backward: 6 },
    });
  });

  it('black-holes both directions, then forwards only what comes after the heal', async () => {
    const t = await target();
    const proxy = await proxyTo(t.address);
    const c = await dial(proxy.address);
    await waitFor(() => c.text() === 'hi:', 'greeting');
    proxy.set({ kind: 'drop' });
    c.socket.write('lost');
    await waitFor(() => proxy.stats().droppedBytes.forward === 4, 'the proxy swallowed the bytes');
    proxy.set({ kind: 'pass' });
    c.socket.write('kept');
    await waitFor(() => c.text() === 'hi:KEPT', 'only the post-heal bytes arrive');
    expect(t.received()).toBe('kept');
  });

  it('drops one direction only', async () => {
    const t = await target();
    const proxy = await proxyTo(t.address);
    proxy.set({ kind: 'drop', direction: 'backward' });
    const c = await dial(proxy.address);
    c.socket.write('up');
    await waitFor(() => t.received() === 'up', 'requests still reach the target');
    await waitFor(() => proxy.stats().droppedBytes.backward === 5, 'replies swallowed');
    expect(c.text()).toBe('');

    proxy.set({ kind: 'drop', direction: 'forward' });
    const d = await dial(proxy.address);
    await waitFor(() => d.text() === 'hi:', 'the target still reaches the dialler');
    d.socket.write('gone');
    await waitFor(() => proxy.stats().droppedBytes.forward === 4, 'requests swallowed');
    expect(t.received()).toBe('up');
  });

  it('keeps a dialler-side close hidden while black-holed, and delivers it on heal', async () => {
    const t = await target();
    const proxy = await proxyTo(t.address);
    const c = await dial(proxy.address);
    await waitFor(() => t.connections() === 1 && c.text() === 'hi:', 'connected');
    proxy.set({ kind: 'drop' });
    c.socket.destroy();
    await waitFor(() => c.closed(), 'dialler closed');
    expect(proxy.stats().openCount).toBe(1);
    proxy.set({ kind: 'pass' });
    expect(proxy.stats().openCount).toBe(0);
  });

  it('resets open connections and refuses new ones while in reset mode', async () => {
    const t = await target();
    const proxy = await proxyTo(t.address);
    const c = await dial(proxy.address);
    await waitFor(() => c.text() === 'hi:', 'greeting');
    proxy.set({ kind: 'reset' });
    await waitFor(() => c.closed(), 'the open connection was reset');
    const d = await dial(proxy.address);
    await waitFor(() => d.closed(), 'a new connection is reset too');
    proxy.set({ kind: 'pass' });
    const e = await dial(proxy.address);
    e.socket.write('ok');
    await waitFor(() => e.text() === 'hi:OK', 'works again after the reset mode ends');
    expect(proxy.stats()).toMatchObject({ resetCount: 1, acceptedCount: 3 });
  });

  it('delays chunks by the configured time and keeps their order across a mode change', async () => {
    const t = await target();
    const proxy = await proxyTo(t.address);
    const c = await dial(proxy.address);
    await waitFor(() => c.text() === 'hi:', 'greeting');
    proxy.set({ kind: 'delay', ms: 150, direction: 'forward' });
    const start = Date.now();
    c.socket.write('a');
    await waitFor(() => proxy.stats().delayedBytes.forward === 1, 'the chunk entered the delay queue');
    proxy.set({ kind: 'pass' });
    // Written after the heal, yet it must not overtake the delayed chunk.
    c.socket.write('b');
    await waitFor(() => t.received() === 'ab', 'both chunks, in order');
    expect(Date.now() - start).toBeGreaterThanOrEqual(150);
  });

  it('closes the dialler while the target is down, and follows a retarget', async () => {
    const t = await target();
    const proxy = await proxyTo('127.0.0.1:1');
    const c = await dial(proxy.address);
    await waitFor(() => c.closed(), 'connection closed for a dead target');
    proxy.retarget(t.address);
    const d = await dial(proxy.address);
    d.socket.write('x');
    await waitFor(() => d.text() === 'hi:X', 'relayed to the new target');
  });

  it('partitions and isolates named nodes over directed links', async () => {
    const targets = { n1: await target(), n2: await target(), n3: await target() };
    const net3 = new FaultNetwork();
    cleanup.push(() => net3.close());
    for (const from of ['n1', 'n2', 'n3'] as const) {
      for (const to of ['n1', 'n2', 'n3'] as const) if (from !== to) await net3.link(from, to, targets[to].address);
    }
    net3.partition([['n1'], ['n2', 'n3']]);
    expect(net3.proxy('n1', 'n2').fault()).toEqual({ kind: 'drop' });
    expect(net3.proxy('n3', 'n1').fault()).toEqual({ kind: 'drop' });
    expect(net3.proxy('n2', 'n3').fault()).toEqual({ kind: 'pass' });
    net3.heal();
    net3.isolate('n3', { kind: 'reset' });
    expect(net3.proxy('n1', 'n3').fault()).toEqual({ kind: 'reset' });
    expect(net3.proxy('n1', 'n2').fault()).toEqual({ kind: 'pass' });
    net3.set('n2', 'n1', { kind: 'delay', ms: 5 });
    expect(net3.proxy('n2', 'n1').fault()).toEqual({ kind: 'delay', ms: 5 });
    await expect(net3.link('n1', 'n2', targets.n2.address)).rejects.toThrow(/exists/);
  });
});
