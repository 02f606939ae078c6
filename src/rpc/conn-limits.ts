// Connections per client address on the client port (issue #14, docs/security.md): every TCP
// connection is counted by its remote address as it is accepted (before TLS or HTTP/2), so one host
// cannot hold the node's sockets and memory with idle connections. A connection over the limit is
// still served long enough to tell the client why: each of its calls is answered RESOURCE_EXHAUSTED
// naming the limit (`connections_per_address`), then it is closed after a short grace. Refusals are
// counted (raftq_client_limited_total{limit="connections_per_address"}) and logged at most once per
// address per LOG_EVERY_MS.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { ErrorDetail } from '../protocol/errors.js';
import { grpcErrorOf } from './client-errors.js';
import { hostOf } from './rate-limits.js';
import { sniffClientConnection, type RawSubmitServerOptions } from './submit-raw.js';

export const CONNECTIONS_LIMIT = 'connections_per_address';
/** How long a refused connection stays open to carry the refusal of its calls. */
const REFUSED_GRACE_MS = 2_000;
const LOG_EVERY_MS = 10_000;
/** Addresses remembered for log throttling; beyond, the oldest is forgotten. */
const LOGGED_MAX = 10_000;

export interface ConnectionLimiterOptions {
  /** Open connections per remote address; 0: no limit. */
  perAddress: number;
  /** Called (throttled) when a connection is refused. */
  onRefuse?: (address: string, open: number) => void;
  now?: () => number;
}

export class ConnectionLimiter {
  private readonly open = new Map<string, number>();
  /** "host:port" of the connections over the limit (grpc-js peer strings name a connection so). */
  private readonly over = new Set<string>();
  private readonly logged = new Map<string, number>();
  private refused = 0;

  constructor(private readonly o: ConnectionLimiterOptions) {}

  /** Connections open from `address` now. */
  openFrom(address: string): number {
    return this.open.get(address) ?? 0;
  }

  refusals(): Record<typeof CONNECTIONS_LIMIT, number> {
    return { [CONNECTIONS_LIMIT]: this.refused };
  }

  /** Counts an accepted socket until it closes; marks it refused when over the limit. */
  accept(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const n = (this.open.get(address) ?? 0) + 1;
    this.open.set(address, n);
    const peer = `${address}:${socket.remotePort ?? 0}`;
    const refused = this.o.perAddress > 0 && n > this.o.perAddress;
    socket.once('close', () => {
      const left = (this.open.get(address) ?? 1) - 1;
      if (left <= 0) this.open.delete(address);
      else this.open.set(address, left);
      if (refused) this.over.delete(peer);
    });
    if (!refused) return;
    this.refused += 1;
    this.over.add(peer);
    this.note(address, n - 1);
    const timer = setTimeout(() => socket.destroy(), REFUSED_GRACE_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  /** The refusal of a call on connection `peer` (a grpc-js peer string), or null. */
  refusalOf(peer: string): ErrorDetail | null {
    const p = peer.replace(/^ipv[46]:/, '').replace(/^\[([^\]]*)\]/, '$1');
    if (!this.over.has(p)) return null;
    const address = hostOf(peer);
    return {
      code: 'RESOURCE_EXHAUSTED',
      message: `${CONNECTIONS_LIMIT}: ${this.o.perAddress} connections already open from ${address}; reuse a connection or close some`,
      limit: CONNECTIONS_LIMIT,
      retryAfterMs: 1_000,
    };
  }

  /** The server interceptors: calls on a refused connection get their status at once. */
  interceptors(): grpc.ServerInterceptor[] {
    return [this.interceptor()];
  }

  private interceptor(): grpc.ServerInterceptor {
    return (_descriptor, call) =>
      new grpc.ServerInterceptingCall(call, {
        start: (next) => {
          const refusal = this.refusalOf(call.getPeer());
          if (refusal === null) return next();
          let sent = false;
          next({
            onReceiveMetadata: () => {
              if (!sent) call.sendStatus(grpcErrorOf(refusal) as grpc.StatusObject);
              sent = true;
            },
            onReceiveMessage: () => undefined,
            onReceiveHalfClose: () => undefined,
          });
        },
      });
  }

  private note(address: string, open: number): void {
    const now = (this.o.now ?? Date.now)();
    const last = this.logged.get(address);
    if (last !== undefined && now - last < LOG_EVERY_MS) return;
    this.logged.delete(address);
    this.logged.set(address, now);
    if (this.logged.size > LOGGED_MAX) this.logged.delete(this.logged.keys().next().value as string);
    this.o.onRefuse?.(address, open);
  }
}

export interface CountedListener {
  port: number;
  close(): void;
}

/**
 * Binds the client port: through grpc-js itself without a limiter or raw lane; else listens on `address`
 * ("host:port", port 0 picks one), counts each accepted socket, and hands it to the raw Submit lane
 * (submit-raw.ts) or to `server` through a grpc-js connection injector (TLS and its reloads included).
 */
export async function bindClientPort(
  server: grpc.Server,
  address: string,
  credentials: grpc.ServerCredentials,
  limiter: ConnectionLimiter | undefined,
  raw?: RawSubmitServerOptions,
): Promise<CountedListener> {
  if (limiter === undefined && raw === undefined) {
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port))),
    );
    return { port: bound, close: () => undefined };
  }
  const injector = server.createConnectionInjector(credentials);
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(colon + 1));
  const tcp = createServer((socket) => {
    limiter?.accept(socket);
    if (raw === undefined) injector.injectConnection(socket);
    else sniffClientConnection(socket, injector, raw);
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
  return {
    port: (tcp.address() as AddressInfo).port,
    close: () => {
      tcp.close();
      injector.destroy();
    },
  };
}
