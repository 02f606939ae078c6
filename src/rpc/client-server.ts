// The client port of one node: the gRPC server of client.proto (client-service.ts) and, on a
// plaintext port, the raw Submit lane beside it (submit-raw.ts; docs/decisions.md "Submits travel on
// a raw TCP lane on plaintext client ports").
import type net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { systemClock } from '../client/clock.js';
import type { Message } from '../protocol/wire-values.js';
import {
  createClientService,
  type ClientService,
  type ClientServiceMetrics,
  type ClientServiceOptions,
} from './client-service.js';
import { bindClientPort, type ConnectionLimiter, type CountedListener } from './conn-limits.js';
import type { ClientExecutor } from './executor.js';
import type { ClientRateLimiter } from './rate-limits.js';
import type { RawSubmitServerOptions } from './submit-raw.js';
import type { SubmitDuplex } from './submit-stream.js';

type Decoded = { ok: true; value: Message } | { ok: false; reason: string };

export interface ClientServerOptions extends ClientServiceOptions {
  /** host:port to bind; port 0 picks a free one. */
  address: string;
  executor: ClientExecutor;
  /** Largest request accepted (beyond it grpc-js answers RESOURCE_EXHAUSTED). Default 64 MiB. */
  receiveMessageBytesMax?: number;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** TLS (src/rpc/tls.ts serverCredentials); default plaintext. */
  credentials?: grpc.ServerCredentials;
  /** Run before every call's handler (rate-limits.ts). */
  interceptors?: grpc.ServerInterceptor[];
  /** Connections per client address (conn-limits.ts); the port is then accepted here, not by grpc-js. */
  connections?: ConnectionLimiter;
  /** The per-client limits the interceptors apply, applied on the raw Submit lane too. */
  rateLimiter?: ClientRateLimiter;
  /** The raw Submit lane beside gRPC on a plaintext port (submit-raw.ts). Default true; never with TLS. */
  rawSubmit?: boolean;
}

/** The client server of one node. */
export class ClientServer {
  private boundPort = 0;

  private listener: CountedListener | null = null;
  /** The raw lane's open connections, and the streams opened on it (cumulative). */
  private readonly rawSockets = new Set<net.Socket>();
  private readonly rawStats = { opened: 0 };

  private constructor(
    private readonly server: grpc.Server,
    readonly service: ClientService,
    private readonly host: string,
  ) {}

  static async start(options: ClientServerOptions): Promise<ClientServer> {
    const server = new grpc.Server({
      'grpc.max_receive_message_length': options.receiveMessageBytesMax ?? 64 * 1024 * 1024,
      'grpc.max_send_message_length': 256 * 1024 * 1024,
      'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 10_000,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 1_000,
      interceptors: [...(options.connections?.interceptors() ?? []), ...(options.interceptors ?? [])],
    });
    const service = createClientService(options.executor, options);
    server.addService(service.definition, service.implementation);
    const s = new ClientServer(server, service, options.address.slice(0, options.address.lastIndexOf(':')));
    const credentials = options.credentials ?? grpc.ServerCredentials.createInsecure();
    const raw = options.rawSubmit !== false && options.credentials === undefined ? s.rawLane(options) : undefined;
    s.listener = await bindClientPort(server, options.address, credentials, options.connections, raw);
    s.boundPort = s.listener.port;
    return s;
  }

  /** The raw Submit lane over this server's SubmitStream handler, admitted as the interceptors would. */
  private rawLane(options: ClientServerOptions): RawSubmitServerOptions {
    const method = this.service.definition['SubmitStream'] as grpc.MethodDefinition<Message, Message>;
    const handler = this.service.implementation['SubmitStream'] as (call: SubmitDuplex) => void;
    const { connections, rateLimiter } = options;
    return {
      handler,
      deserialize: method.requestDeserialize as unknown as (bytes: Buffer) => Decoded,
      serialize: method.responseSerialize,
      // A frame holds one request, its kind and MAC-length bytes.
      frameBytesMax: (options.receiveMessageBytesMax ?? 64 * 1024 * 1024) + 2,
      keepaliveTimeMs: options.keepaliveTimeMs ?? 10_000,
      admit: (peer, authorization) =>
        connections?.refusalOf(peer) ??
        rateLimiter?.admit(method.path, peer, authorization) ?? { release: () => undefined },
      refuseRequest: (peer, authorization, request) =>
        (rateLimiter?.takeStreamed(peer, authorization, request) as Message | null | undefined) ?? null,
      sockets: this.rawSockets,
      stats: this.rawStats,
    };
  }

  get port(): number {
    return this.boundPort;
  }

  get address(): string {
    return `${this.host}:${this.boundPort}`;
  }

  metrics(): ClientServiceMetrics {
    return { ...this.service.metrics(), rawSubmitStreams: this.rawStats.opened };
  }

  /** Ends streams and waiters, stops accepting calls; calls still running after graceMs are cancelled. */
  async close(graceMs = 1_000): Promise<void> {
    this.service.close();
    this.listener?.close();
    await Promise.all([this.closeGrpc(graceMs), this.closeRaw(graceMs)]);
  }

  private closeGrpc(graceMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = systemClock.setTimer(graceMs, () => {
        this.server.forceShutdown();
        resolve();
      });
      this.server.tryShutdown(() => {
        timer.cancel();
        resolve();
      });
    });
  }

  /** The raw streams end as their requests are answered (service.close()); the rest close after graceMs. */
  private closeRaw(graceMs: number): Promise<void> {
    if (this.rawSockets.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = systemClock.setTimer(graceMs, () => {
        for (const socket of this.rawSockets) socket.destroy();
        resolve();
      });
      for (const socket of this.rawSockets) {
        socket.once('close', () => {
          if (this.rawSockets.size > 0) return;
          timer.cancel();
          resolve();
        });
      }
    });
  }
}
