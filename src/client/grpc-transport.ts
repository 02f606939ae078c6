// The gRPC Transport: one channel per server address, over client.proto as src/protocol/proto.ts
// locates and loads it (the same loader options as the server).
import * as grpc from '@grpc/grpc-js';
import { evictWhenStuck } from './channel-guard.js';
import { GrpcStatus, isErrorDetail, type ErrorCode, type ErrorDetail } from '../protocol/errors.js';
import * as protoLoader from '@grpc/proto-loader';
import {
  CLIENT_SERVICE,
  ERROR_METADATA_KEY,
  FORWARD_METADATA_KEY,
  PROTO_LOADER_OPTIONS,
  protoFilePath,
} from '../protocol/proto.js';
import {
  CallCancel,
  TransportError,
  type Message,
  type Method,
  type StreamHandlers,
  type StreamMethod,
  type Transport,
} from './transport.js';
import { RawSubmitDuplex } from './raw-submit.js';
import { SubmitPipe, type SubmitDuplex } from './submit-pipe.js';

/** After a server answered SubmitStream with UNIMPLEMENTED, Submit calls only for this long. */
const NO_STREAM_REPROBE_MS = 60_000;

let serviceDef: grpc.ServiceDefinition | undefined;
let serviceCtor: grpc.ServiceClientConstructor | undefined;

function serviceDefinition(): grpc.ServiceDefinition {
  serviceDef ??= protoLoader.loadSync(protoFilePath('client.proto'), PROTO_LOADER_OPTIONS)[
    CLIENT_SERVICE
  ] as grpc.ServiceDefinition;
  return serviceDef;
}

function clientConstructor(): grpc.ServiceClientConstructor {
  serviceCtor ??= grpc.makeGenericClientConstructor(serviceDefinition(), 'RaftQ');
  return serviceCtor;
}

const STATUS_CODES: Record<number, ErrorCode> = {
  [GrpcStatus.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [GrpcStatus.DEADLINE_EXCEEDED]: 'DEADLINE_EXCEEDED',
  [GrpcStatus.NOT_FOUND]: 'NOT_FOUND',
  [GrpcStatus.ALREADY_EXISTS]: 'ALREADY_EXISTS',
  [GrpcStatus.PERMISSION_DENIED]: 'PERMISSION_DENIED',
  [GrpcStatus.RESOURCE_EXHAUSTED]: 'RESOURCE_EXHAUSTED',
  [GrpcStatus.FAILED_PRECONDITION]: 'FAILED_PRECONDITION',
  [GrpcStatus.UNAVAILABLE]: 'UNAVAILABLE',
  [GrpcStatus.UNAUTHENTICATED]: 'UNAUTHENTICATED',
  [grpc.status.CANCELLED]: 'UNAVAILABLE',
};

/** The error detail of a failed call: from the `raftq-error` trailer, else from the bare status. */
export function detailFromServiceError(err: Partial<grpc.ServiceError>): ErrorDetail {
  const raw = err.metadata?.get(ERROR_METADATA_KEY)[0];
  if (typeof raw === 'string') {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (isErrorDetail(parsed)) return parsed;
    } catch {
      // fall through to the status
    }
  }
  const code = STATUS_CODES[err.code ?? grpc.status.UNKNOWN] ?? 'INTERNAL';
  // grpc-js ends connection failures with "Resolution note: " even when it has none to give.
  const message = (err.details || err.message || 'call failed').replace(/\.? Resolution note: ?$/, '');
  return { code, message };
}

export interface GrpcTransportOptions {
  /** Largest reply accepted (default 64 MiB). */
  receiveMessageBytesMax?: number;
  keepaliveTimeMs?: number;
  /**
   * A channel CONNECTING this long is closed and the next call dials afresh: grpc-js gives a connection
   * attempt no deadline (channel-guard.ts). Default 10 s.
   */
  connectTimeoutMs?: number;
  /** Bearer token sent with every call (`authorization: Bearer …`); none when the cluster has no auth. */
  token?: string;
  /** TLS to the servers; absent: plaintext. */
  tls?: ClientTls;
  /**
   * Let a follower forward commands and linearizable reads to the leader instead of answering
   * NOT_LEADER (the `raftq-forward` metadata; issue 18): a client that reaches only followers keeps
   * working. Default true.
   */
  forward?: boolean;
  /**
   * Submits travel on one SubmitStream per server (client.proto; issue 11) instead of a call each.
   * Default true; a server without it gets Submit calls (retried on the stream after `reprobeMs`).
   */
  submitStream?: boolean;
  /**
   * Without TLS, the Submit stream travels on the raw lane (raw-submit.ts: the same messages without
   * HTTP/2) instead of gRPC. Default true; a node without the lane gets the gRPC stream for a minute.
   */
  rawSubmit?: boolean;
}

/** TLS of the SDK (docs/security.md): PEM text or bytes. */
export interface ClientTls {
  /** CA that signed the servers' certificates (default: the system's roots). */
  ca?: string | Uint8Array;
  /** A client certificate and its key, for a cluster started with --tls-client-auth require. */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  /** The name expected in the servers' certificates when it differs from the host dialled. */
  serverName?: string;
}

function channelCredentials(tls: ClientTls | undefined): grpc.ChannelCredentials {
  if (tls === undefined) return grpc.credentials.createInsecure();
  const buf = (v: string | Uint8Array | undefined): Buffer | null => (v === undefined ? null : Buffer.from(v));
  return grpc.credentials.createSsl(buf(tls.ca), buf(tls.key), buf(tls.cert));
}

export class GrpcTransport implements Transport {
  private readonly clients = new Map<string, grpc.Client>();
  private readonly pipes = new Map<string, SubmitPipe>();
  /** Addresses that answered SubmitStream with UNIMPLEMENTED, until when they get Submit calls. */
  private readonly noStreamUntil = new Map<string, number>();
  /** Addresses that answered the raw lane with HTTP/2 (an older node), until when they get gRPC. */
  private readonly noRawUntil = new Map<string, number>();
  private closed = false;

  private readonly metadata: () => grpc.Metadata;
  private readonly credentials: grpc.ChannelCredentials;

  constructor(private readonly opts: GrpcTransportOptions = {}) {
    const token = opts.token;
    this.credentials = channelCredentials(opts.tls);
    const forward = opts.forward !== false;
    this.metadata = (): grpc.Metadata => {
      const m = new grpc.Metadata();
      if (token !== undefined) m.set('authorization', `Bearer ${token}`);
      if (forward) m.set(FORWARD_METADATA_KEY, '1');
      return m;
    };
  }

  private client(address: string): grpc.Client {
    let c = this.clients.get(address);
    if (c === undefined) {
      const Ctor = clientConstructor();
      c = new Ctor(address, this.credentials, {
        ...(this.opts.tls?.serverName ? { 'grpc.ssl_target_name_override': this.opts.tls.serverName } : {}),
        'grpc.max_receive_message_length': this.opts.receiveMessageBytesMax ?? 64 * 1024 * 1024,
        'grpc.max_send_message_length': 64 * 1024 * 1024,
        'grpc.keepalive_time_ms': this.opts.keepaliveTimeMs ?? 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 2_000,
      });
      evictWhenStuck(this.clients, address, c, this.opts.connectTimeoutMs ?? 10_000);
      this.clients.set(address, c);
    }
    return c;
  }

  /** Whether Submits to `address` travel on its stream (then a one-command Submit costs little). */
  streamsSubmit(address: string): boolean {
    if (this.opts.submitStream === false || this.closed) return false;
    const until = this.noStreamUntil.get(address);
    if (until === undefined) return true;
    if (Date.now() < until) return false;
    this.noStreamUntil.delete(address);
    return true;
  }

  callCancellable(
    address: string,
    method: Method,
    request: Message,
    timeoutMs: number,
    cancel: CallCancel,
  ): Promise<Message> {
    return this.call(address, method, request, timeoutMs, cancel);
  }

  call(
    address: string,
    method: Method,
    request: Message,
    timeoutMs: number,
    signal?: AbortSignal | CallCancel,
  ): Promise<Message> {
    if (this.closed) return Promise.reject(new TransportError({ code: 'UNAVAILABLE', message: 'transport closed' }));
    if (method === 'Submit' && this.streamsSubmit(address)) {
      const pipe = this.pipe(address);
      return pipe.submit(request, timeoutMs, signal).catch((e: unknown) => {
        // An older node: nothing ran; the call goes on the gRPC stream, or unary.
        if (!(e instanceof TransportError && e.unimplemented)) throw e;
        if (pipe.raw) return this.call(address, method, request, timeoutMs, signal);
        return this.unary(address, method, request, timeoutMs, signal);
      });
    }
    return this.unary(address, method, request, timeoutMs, signal);
  }

  private pipe(address: string): SubmitPipe {
    let p = this.pipes.get(address);
    if (p === undefined || !p.open) {
      const raw = this.rawFor(address);
      const pipe = new SubmitPipe(
        raw ? this.rawDuplex(address) : this.grpcDuplex(address),
        (unimplemented) => {
          if (this.pipes.get(address) === pipe) this.pipes.delete(address);
          if (unimplemented)
            (raw ? this.noRawUntil : this.noStreamUntil).set(address, Date.now() + NO_STREAM_REPROBE_MS);
        },
        detailFromServiceError,
        raw,
      );
      p = pipe;
      this.pipes.set(address, p);
    }
    return p;
  }

  private rawFor(address: string): boolean {
    if (this.opts.rawSubmit === false || this.opts.tls !== undefined) return false;
    const until = this.noRawUntil.get(address);
    if (until === undefined) return true;
    if (Date.now() < until) return false;
    this.noRawUntil.delete(address);
    return true;
  }

  private grpcDuplex(address: string): SubmitDuplex {
    const client = this.client(address) as unknown as Record<string, BidiFn>;
    return (client['SubmitStream'] as BidiFn).call(client, this.metadata(), {});
  }

  private rawDuplex(address: string): SubmitDuplex {
    const m = serviceDefinition()['SubmitStream'] as grpc.MethodDefinition<Message, Message>;
    return new RawSubmitDuplex(address, {
      hello: {
        ...(this.opts.token !== undefined ? { authorization: `Bearer ${this.opts.token}` } : {}),
        forward: this.opts.forward !== false,
      },
      keepaliveTimeMs: this.opts.keepaliveTimeMs ?? 10_000,
      frameBytesMax: this.opts.receiveMessageBytesMax ?? 64 * 1024 * 1024,
      serialize: m.requestSerialize,
      deserialize: m.responseDeserialize,
    });
  }

  private unary(
    address: string,
    method: Method,
    request: Message,
    timeoutMs: number,
    signal?: AbortSignal | CallCancel,
  ): Promise<Message> {
    const client = this.client(address) as unknown as Record<string, UnaryFn>;
    const fn = client[method];
    if (fn === undefined)
      return Promise.reject(new TransportError({ code: 'INTERNAL', message: `no method ${method}` }, true));
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + Math.max(1, timeoutMs));
      const call = fn.call(
        client,
        request,
        this.metadata(),
        { deadline },
        (err: grpc.ServiceError | null, reply?: Message) => {
          if (signal instanceof CallCancel) signal.unlisten();
          else signal?.removeEventListener('abort', onAbort);
          if (err) reject(new TransportError(detailFromServiceError(err), err.code === grpc.status.UNIMPLEMENTED));
          else resolve(reply ?? {});
        },
      );
      const onAbort = (): void => call.cancel();
      if (signal instanceof CallCancel) {
        if (signal.cancelled) call.cancel();
        else signal.listen(onAbort);
      } else if (signal?.aborted) call.cancel();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  stream(address: string, method: StreamMethod, request: Message, handlers: StreamHandlers): () => void {
    if (this.closed) {
      handlers.onEnd({ code: 'UNAVAILABLE', message: 'transport closed' });
      return () => undefined;
    }
    const client = this.client(address) as unknown as Record<string, StreamFn>;
    const fn = client[method] as StreamFn;
    const call = fn.call(client, request, this.metadata(), {});
    let done = false;
    const end = (e: ErrorDetail | null): void => {
      if (done) return;
      done = true;
      handlers.onEnd(e);
    };
    call.on('metadata', () => {
      if (!done) handlers.onReady?.();
    });
    call.on('data', (m: Message) => {
      if (!done) handlers.onMessage(m);
    });
    call.on('error', (err: grpc.ServiceError) => end(detailFromServiceError(err)));
    call.on('end', () => end(null));
    return () => {
      done = true;
      call.cancel();
    };
  }

  close(): void {
    this.closed = true;
    for (const p of this.pipes.values()) p.close();
    this.pipes.clear();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

type UnaryFn = (
  req: Message,
  metadata: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, reply?: Message) => void,
) => grpc.ClientUnaryCall;
type BidiFn = (metadata: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientDuplexStream<Message, Message>;
type StreamFn = (req: Message, metadata: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientReadableStream<Message>;
