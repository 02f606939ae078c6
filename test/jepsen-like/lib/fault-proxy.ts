// A TCP relay for fault injection on loopback (docs/faults.md F3/F4): one FaultProxy per directed link
// `from -> to` listens on 127.0.0.1:0 and forwards to `to`'s peer address; node `from` dials the
// proxy instead of the peer. The fault can change at run time:
//   pass   forward everything;
//   drop   black-hole: accept and read, never forward (both directions, or only one);
//   reset  destroy every connection with a TCP RST, and reset new ones while the mode holds;
//   delay  add `ms` to every chunk (order kept), both directions or one.
// "forward" is the dialling side's bytes towards the target (requests), "backward" the replies.
import net from 'node:net';

export type Direction = 'both' | 'forward' | 'backward';

export type LinkFault =
  | { kind: 'pass' }
  | { kind: 'drop'; direction?: Direction }
  | { kind: 'reset' }
  | { kind: 'delay'; ms: number; direction?: Direction };

export interface FaultProxyStats {
  acceptedCount: number;
  openCount: number;
  resetCount: number;
  forwardedBytes: { forward: number; backward: number };
  droppedBytes: { forward: number; backward: number };
  /** Bytes that entered a delay queue (with a non-zero delay). */
  delayedBytes: { forward: number; backward: number };
}

type Flow = 'forward' | 'backward';

function applies(direction: Direction | undefined, flow: Flow): boolean {
  return direction === undefined || direction === 'both' || direction === flow;
}

/** One relayed connection: two sockets and, per flow, an ordered queue of delayed chunks. */
class Relay {
  readonly queues: Record<Flow, { at: number; chunk: Buffer }[]> = { forward: [], backward: [] };
  private readonly timers: Record<Flow, NodeJS.Timeout | null> = { forward: null, backward: null };
  private readonly ended: Record<Flow, boolean> = { forward: false, backward: false };
  private closed = false;

  constructor(
    readonly client: net.Socket,
    readonly upstream: net.Socket,
    private readonly proxy: FaultProxy,
  ) {
    this.pipe(client, 'forward');
    this.pipe(upstream, 'backward');
  }

  private dst(flow: Flow): net.Socket {
    return flow === 'forward' ? this.upstream : this.client;
  }

  private pipe(src: net.Socket, flow: Flow): void {
    src.on('data', (chunk: Buffer) => this.proxy.onChunk(this, flow, chunk));
    // A FIN travels like data: after the queued chunks, and not at all through a black hole.
    src.on('end', () => {
      this.ended[flow] = true;
      if (!this.proxy.dropping(flow)) this.flush(flow);
    });
    src.on('error', () => this.destroy());
    src.on('close', () => {
      if (!this.proxy.dropping(flow)) this.destroy();
    });
  }

  push(flow: Flow, chunk: Buffer, delayMs: number): void {
    this.queues[flow].push({ at: Date.now() + delayMs, chunk });
    this.flush(flow);
  }

  /** Writes every due chunk of `flow` in order, then waits for the next one. */
  flush(flow: Flow): void {
    if (this.closed) return;
    const queue = this.queues[flow];
    const now = Date.now();
    while (queue.length > 0 && queue[0]!.at <= now) {
      const { chunk } = queue.shift()!;
      this.proxy.countForwarded(flow, chunk.byteLength);
      this.dst(flow).write(chunk);
    }
    if (this.timers[flow] !== null) clearTimeout(this.timers[flow]);
    this.timers[flow] = null;
    if (queue.length > 0) {
      this.timers[flow] = setTimeout(() => this.flush(flow), queue[0]!.at - now);
    } else if (this.ended[flow]) {
      this.dst(flow).end();
    }
  }

  reset(): void {
    if (this.closed) return;
    this.client.resetAndDestroy();
    this.upstream.resetAndDestroy();
    this.destroy();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    for (const flow of ['forward', 'backward'] as const) {
      const timer = this.timers[flow];
      if (timer !== null) clearTimeout(timer);
    }
    this.client.destroy();
    this.upstream.destroy();
    this.proxy.forget(this);
  }

  /** After a black hole lifts, a side that closed meanwhile finally shows as closed. */
  healed(): void {
    if (this.client.destroyed || this.upstream.destroyed) this.destroy();
    else for (const flow of ['forward', 'backward'] as const) this.flush(flow);
  }
}

export class FaultProxy {
  private current: LinkFault = { kind: 'pass' };
  private readonly relays = new Set<Relay>();
  private readonly counters: FaultProxyStats = {
    acceptedCount: 0,
    openCount: 0,
    resetCount: 0,
    forwardedBytes: { forward: 0, backward: 0 },
    droppedBytes: { forward: 0, backward: 0 },
    delayedBytes: { forward: 0, backward: 0 },
  };

  private constructor(
    private readonly server: net.Server,
    private target: { host: string; port: number },
  ) {}

  /** Listens on `listenHost`:0 and relays to `target` (host:port). */
  static async start(target: string, listenHost = '127.0.0.1'): Promise<FaultProxy> {
    const server = net.createServer();
    const proxy = new FaultProxy(server, parseAddress(target));
    server.on('connection', (socket) => proxy.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, listenHost, () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** What the dialling node should use as the peer's address. */
  get address(): string {
    const { address, port } = this.server.address() as net.AddressInfo;
    return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  }

  fault(): LinkFault {
    return this.current;
  }

  set(fault: LinkFault): void {
    this.current = fault;
    if (fault.kind === 'reset') {
      for (const relay of [...this.relays]) relay.reset();
      this.counters.resetCount += 1;
    } else if (fault.kind === 'pass' || fault.kind === 'delay') {
      for (const relay of [...this.relays]) relay.healed();
    }
  }

  /** For a target that came back on another port; existing connections keep their old target. */
  retarget(target: string): void {
    this.target = parseAddress(target);
  }

  stats(): FaultProxyStats {
    return {
      ...this.counters,
      openCount: this.relays.size,
      forwardedBytes: { ...this.counters.forwardedBytes },
      droppedBytes: { ...this.counters.droppedBytes },
      delayedBytes: { ...this.counters.delayedBytes },
    };
  }

  async close(): Promise<void> {
    for (const relay of [...this.relays]) relay.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** @internal */
  dropping(flow: Flow): boolean {
    return this.current.kind === 'drop' && applies(this.current.direction, flow);
  }

  /** @internal */
  onChunk(relay: Relay, flow: Flow, chunk: Buffer): void {
    if (this.dropping(flow)) {
      this.counters.droppedBytes[flow] += chunk.byteLength;
      return;
    }
    const f = this.current;
    const delayMs = f.kind === 'delay' && applies(f.direction, flow) ? f.ms : 0;
    if (delayMs > 0) this.counters.delayedBytes[flow] += chunk.byteLength;
    relay.push(flow, chunk, delayMs);
  }

  /** @internal */
  countForwarded(flow: Flow, bytes: number): void {
    this.counters.forwardedBytes[flow] += bytes;
  }

  /** @internal */
  forget(relay: Relay): void {
    this.relays.delete(relay);
  }

  private accept(client: net.Socket): void {
    this.counters.acceptedCount += 1;
    client.on('error', () => client.destroy());
    if (this.current.kind === 'reset') {
      client.resetAndDestroy();
      return;
    }
    client.pause();
    const upstream = net.connect(this.target);
    upstream.on('error', () => {
      // Target down: the dialler sees its connection die, as it would dialling the target directly.
      upstream.destroy();
      client.resetAndDestroy();
    });
    upstream.once('connect', () => {
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      this.relays.add(new Relay(client, upstream, this));
      client.resume();
    });
  }
}

/** Directed links between named nodes, each through its own FaultProxy. */
export class FaultNetwork {
  private readonly links = new Map<string, FaultProxy>();

  /** Creates the link `from -> to` towards `target` and returns the address `from` must dial. */
  async link(from: string, to: string, target: string): Promise<string> {
    const key = linkKey(from, to);
    if (this.links.has(key)) throw new Error(`link ${key} exists`);
    const proxy = await FaultProxy.start(target);
    this.links.set(key, proxy);
    return proxy.address;
  }

  proxy(from: string, to: string): FaultProxy {
    const proxy = this.links.get(linkKey(from, to));
    if (proxy === undefined) throw new Error(`no link ${linkKey(from, to)}`);
    return proxy;
  }

  set(from: string, to: string, fault: LinkFault): void {
    this.proxy(from, to).set(fault);
  }

  /** Cuts every link between nodes of different groups (both directions); links inside a group pass. */
  partition(groups: string[][], fault: LinkFault = { kind: 'drop' }): void {
    const groupOf = new Map<string, number>();
    groups.forEach((g, i) => g.forEach((n) => groupOf.set(n, i)));
    for (const [key, proxy] of this.links) {
      const [from, to] = key.split('->') as [string, string];
      const split =
        groupOf.get(from) !== undefined && groupOf.get(to) !== undefined && groupOf.get(from) !== groupOf.get(to);
      proxy.set(split ? fault : { kind: 'pass' });
    }
  }

  /** Every link into and out of `node` gets `fault`. */
  isolate(node: string, fault: LinkFault = { kind: 'drop' }): void {
    for (const [key, proxy] of this.links) {
      const [from, to] = key.split('->') as [string, string];
      if (from === node || to === node) proxy.set(fault);
    }
  }

  heal(): void {
    for (const proxy of this.links.values()) proxy.set({ kind: 'pass' });
  }

  async close(): Promise<void> {
    await Promise.all([...this.links.values()].map((p) => p.close()));
    this.links.clear();
  }
}

function linkKey(from: string, to: string): string {
  return `${from}->${to}`;
}

function parseAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65_535) throw new Error(`bad address ${address}`);
  return { host, port };
}
