// The Raft peer port: decodes, validates and hands Raft messages to the node. Hostile or broken input
// (garbage bytes, wrong types, oversized messages) is answered with INVALID_ARGUMENT or
// RESOURCE_EXHAUSTED and counted; nothing a peer sends can throw out of here. With a cluster secret,
// a request without a valid MAC (peer-auth.ts) is refused with UNAUTHENTICATED (dropped on Stream)
// and counted, before its message is decoded or delivered (on the raw stream, where the header the
// MAC covers is rebuilt from the message, after decoding and before delivery). With TLS (tls.ts) the
// port is mutual TLS and a message is refused unless the caller's certificate names the member it
// comes from. Plaintext ports also take the raw peer stream (peer-port.ts, peer-frames.ts).
import * as grpc from '@grpc/grpc-js';
import { MessageType } from '../raft/types.js';
import type { Message, NodeId } from '../raft/types.js';
import { assert } from '../protocol/assert.js';
import { PEER_MAC_BYTES, peerMacValid, type PeerAuth } from './peer-auth.js';
import { decodeMessage, headerMismatch, headerOf, methodFor } from './peer-codec.js';
import { StreamAcks } from './peer-acks.js';
import { PeerPort } from './peer-port.js';
import type { PeerMethod } from './peer-codec.js';
import { loadProtoFile } from './proto.js';
import { callCertNames, type CertCall } from './tls.js';

export const PEER_SERVICE = 'raftq.peer.v1.RaftPeer';

export interface PeerServerOptions {
  /** host:port to bind; port 0 picks a free one (see `port`). */
  address: string;
  /** Receives every valid message, synchronously; a throw is answered with INTERNAL and counted. */
  onMessage: (msg: Message) => void;
  /** If set, messages addressed to another node are refused (a peer dialling the wrong address). */
  selfId?: NodeId;
  /** The cluster secret: every request must carry its MAC. Without it, every peer is trusted. */
  auth?: PeerAuth | null;
  /** One gRPC message (a request, or one snapshot frame); beyond it RESOURCE_EXHAUSTED. */
  receiveMessageBytesMax?: number;
  /** The reassembled chunk of one Snapshot message; beyond it RESOURCE_EXHAUSTED. */
  snapshotChunkBytesMax?: number;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** Stream acknowledgements: the first request of a stream at once, then at once after this many requests not yet acknowledged… */
  ackEvery?: number;
  /** …or this many bytes of them… */
  ackBytes?: number;
  /** …else this long after the first of them (well inside the sender's deadline, PeerTransport deadlineMs). */
  ackDelayMs?: number;
  /**
   * Mutual TLS (tls.ts serverCredentials with client certificates required): a message is refused
   * unless the caller's certificate names its `from`. Default plaintext.
   */
  credentials?: grpc.ServerCredentials;
  /**
   * Takes Raft messages on the raw TCP stream (peer-frames.ts) besides gRPC; default true, always off
   * with TLS. Off, the port answers a raw dialler as a release before the raw stream did.
   */
  rawStreams?: boolean;
  /** More services on the peer port (follower forwarding, src/rpc/forward-server.ts); their replies may be large. */
  services?: readonly { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation }[];
}

export const PEER_SERVER_DEFAULT_OPTIONS = {
  receiveMessageBytesMax: 16 * 1024 * 1024,
  snapshotChunkBytesMax: 1024 * 1024 * 1024,
  keepaliveTimeMs: 10_000,
  keepaliveTimeoutMs: 5_000,
  ackEvery: 16,
  ackBytes: 256 * 1024,
  ackDelayMs: 1_000,
  rawStreams: true,
} as const;

export interface PeerServerMetrics {
  /** Valid messages handed to onMessage. */
  receivedCount: number;
  receivedBytes: number;
  invalidArgumentCount: number;
  resourceExhaustedCount: number;
  /** Valid, but addressed to another node id. */
  misaddressedCount: number;
  /** Requests without a valid MAC under the cluster secret: no MAC, another secret, another cluster. */
  unauthenticatedCount: number;
  /** onMessage threw (a bug in the node, answered with INTERNAL). */
  handlerErrorCount: number;
  /** Calls that ended before our handler answered: grpc-js size/framing refusals, client cancels. */
  abortedCount: number;
}

/** What the safe deserializer yields: never a throw, so grpc-js never answers INTERNAL on garbage. */
type Decoded<T> = { ok: true; value: T; bytes: number } | { ok: false; reason: string };

interface WireRequest {
  header?: unknown;
  message?: unknown;
  mac?: unknown;
}
interface WireFrame extends WireRequest {
  chunk_bytes?: unknown;
  data?: unknown;
}

interface Refusal {
  code: grpc.status;
  details: string;
}

export class PeerServer {
  private readonly server: grpc.Server;
  private readonly opts: Required<Omit<PeerServerOptions, 'selfId' | 'auth' | 'credentials' | 'services'>> & {
    selfId?: NodeId;
    auth?: PeerAuth | null;
    credentials?: grpc.ServerCredentials;
    services?: PeerServerOptions['services'];
  };
  private listener: PeerPort | null = null;
  private readonly counters: PeerServerMetrics = {
    receivedCount: 0,
    receivedBytes: 0,
    invalidArgumentCount: 0,
    resourceExhaustedCount: 0,
    misaddressedCount: 0,
    unauthenticatedCount: 0,
    handlerErrorCount: 0,
    abortedCount: 0,
  };

  /** Binds and starts serving; resolves once the port is bound. */
  static async start(options: PeerServerOptions): Promise<PeerServer> {
    const server = new PeerServer(options);
    await server.bind();
    return server;
  }

  private constructor(options: PeerServerOptions) {
    this.opts = { ...PEER_SERVER_DEFAULT_OPTIONS, ...options };
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': this.opts.receiveMessageBytesMax,
      'grpc.max_send_message_length': options.services?.length ? this.opts.receiveMessageBytesMax * 16 : 1024,
      'grpc.keepalive_time_ms': this.opts.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': this.opts.keepaliveTimeoutMs,
      'grpc.keepalive_permit_without_calls': 1,
      interceptors: [(_method, call) => abortCounter(call, () => (this.counters.abortedCount += 1))],
    });
    const unary = (method: PeerMethod) => (call: Unary, cb: Callback) => this.unary(method, call, cb);
    this.server.addService(serviceDefinition(), {
      Append: unary('Append'),
      Vote: unary('Vote'),
      PreVote: unary('PreVote'),
      Heartbeat: unary('Heartbeat'),
      TimeoutNow: unary('TimeoutNow'),
      Respond: unary('Respond'),
      InstallSnapshot: (call: FrameStream, cb: Callback) => this.snapshotStream(call, cb),
      Stream: (call: RequestStream) => this.messageStream(call),
    });
    for (const s of options.services ?? []) this.server.addService(s.definition, s.implementation);
  }

  /** Our own listener hands gRPC connections to grpc-js and keeps raw peer streams (peer-port.ts). */
  private async bind(): Promise<void> {
    const injector = this.server.createConnectionInjector(
      this.opts.credentials ?? grpc.ServerCredentials.createInsecure(),
    );
    this.listener = await PeerPort.listen(this.opts.address, injector, {
      enabled: this.opts.credentials === undefined && this.opts.rawStreams,
      ackEvery: this.opts.ackEvery,
      ackBytes: this.opts.ackBytes,
      ackDelayMs: this.opts.ackDelayMs,
      frameBytesMax: this.opts.receiveMessageBytesMax,
      keepaliveTimeMs: this.opts.keepaliveTimeMs,
      onMessage: (body, mac) => this.rawMessage(body, mac),
      onMalformed: (reason) => this.countRefusal(invalid(reason)),
    });
  }

  get port(): number {
    return this.listener?.port ?? 0;
  }

  /** host:port actually bound (the configured host with the chosen port). */
  get address(): string {
    return `${this.opts.address.slice(0, this.opts.address.lastIndexOf(':'))}:${this.port}`;
  }

  metrics(): PeerServerMetrics {
    return { ...this.counters };
  }

  /** Stops accepting calls; calls still running after `graceMs` are cancelled. */
  async close(graceMs = 1_000): Promise<void> {
    this.listener?.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private unary(method: PeerMethod, call: Unary, cb: Callback): void {
    const decoded = call.request;
    if (!decoded.ok) return this.refuse(cb, invalid(decoded.reason));
    const msg = this.admit(method, decoded.value, false, this.certNames(call));
    if ('code' in msg) return this.refuse(cb, msg);
    this.deliver(msg, decoded.bytes, cb);
  }

  /**
   * The long-lived message stream: each request is checked like a unary one; a bad one is dropped and
   * counted (a refusal would end the stream and every message behind it), a good one delivered.
   */
  private messageStream(call: RequestStream): void {
    let ended = false;
    const names = this.certNames(call);
    const acks = new StreamAcks(this.opts, (received) => call.write({ received }));
    call.on('data', (decoded: Decoded<WireRequest>) => {
      if (ended) return;
      acks.received1(decoded.ok ? decoded.bytes : 0);
      const msg = decoded.ok ? this.admit(null, decoded.value, false, names) : invalid(decoded.reason);
      this.deliverOrCount(msg, decoded.ok ? decoded.bytes : 0);
    });
    const stop = (): void => {
      ended = true;
      acks.stop();
    };
    call.on('end', () => {
      if (ended) return;
      acks.flush();
      stop();
      call.end();
    });
    call.on('error', stop);
  }

  /** One message of a raw peer stream: checked like a streamed gRPC request (no TLS: no names). */
  private rawMessage(body: Uint8Array, mac: Uint8Array): void {
    const msg = decodeMessage(body);
    if (typeof msg === 'string') return this.countRefusal(invalid(msg));
    // The MAC covers the header rebuilt from the message itself, so no header check is left to do.
    const auth = this.opts.auth;
    if (auth && !peerMacValid(auth, headerOf(msg), body, mac)) return this.countRefusal(unauthenticated());
    this.deliverOrCount(this.admitRouted(msg, null), body.byteLength);
  }

  /** A streamed request: a bad one is dropped and counted (the stream goes on), a good one delivered. */
  private deliverOrCount(msg: Message | Refusal, bytes: number): void {
    if ('code' in msg) return this.countRefusal(msg);
    if (msg.type === MessageType.Snapshot)
      return this.countRefusal(invalid('Snapshot messages go through InstallSnapshot'));
    this.deliverStreamed(msg, bytes);
  }

  private deliverStreamed(msg: Message, bytes: number): void {
    try {
      this.opts.onMessage(msg);
    } catch {
      this.counters.handlerErrorCount += 1;
      return;
    }
    this.counters.receivedCount += 1;
    this.counters.receivedBytes += bytes;
  }

  /** With TLS, the member names the caller's certificate vouches for; null: no TLS, no check. */
  private certNames(call: CertCall): string[] | null {
    return this.opts.credentials === undefined ? null : callCertNames(call);
  }

  /** Checks one request's bytes, header and routing; a Message or the refusal to send back. */
  private admit(
    method: PeerMethod | null,
    req: WireRequest,
    macChecked = false,
    names: string[] | null = null,
  ): Message | Refusal {
    if (!(req.message instanceof Uint8Array) || req.message.byteLength === 0) return invalid('message: empty');
    const auth = this.opts.auth;
    if (!macChecked && auth && !peerMacValid(auth, req.header, req.message, req.mac)) return unauthenticated();
    const msg = decodeMessage(req.message);
    if (typeof msg === 'string') return invalid(msg);
    if (method !== null && methodFor(msg.type) !== method)
      return invalid(`type ${msg.type} does not belong to ${method}`);
    const mismatch = headerMismatch(req.header, msg);
    if (mismatch !== null) return invalid(mismatch);
    return this.admitRouted(msg, names);
  }

  /** The routing checks of a decoded message: the caller's certificate, the addressee. */
  private admitRouted(msg: Message, names: string[] | null): Message | Refusal {
    if (names !== null && !names.includes(msg.from)) return notMember(msg.from, names);
    if (this.opts.selfId !== undefined && msg.to !== this.opts.selfId) {
      this.counters.misaddressedCount += 1;
      return invalid(`addressed to ${msg.to}, this is ${this.opts.selfId}`);
    }
    return msg;
  }

  private deliver(msg: Message, bytes: number, cb: Callback): void {
    try {
      this.opts.onMessage(msg);
    } catch {
      this.counters.handlerErrorCount += 1;
      cb({ code: grpc.status.INTERNAL, details: 'message handler failed' });
      return;
    }
    this.counters.receivedCount += 1;
    this.counters.receivedBytes += bytes;
    cb(null, {});
  }

  private refuse(cb: Callback, refusal: Refusal): void {
    this.countRefusal(refusal);
    cb(refusal);
  }

  private countRefusal(refusal: Refusal): void {
    if (refusal.code === grpc.status.RESOURCE_EXHAUSTED) this.counters.resourceExhaustedCount += 1;
    else if (refusal.code === grpc.status.UNAUTHENTICATED) this.counters.unauthenticatedCount += 1;
    else this.counters.invalidArgumentCount += 1;
  }

  /** Reassembles one Snapshot message from its frames (see SnapshotFrame in peer.proto). */
  private snapshotStream(call: FrameStream, cb: Callback): void {
    let msg: Message | null = null;
    let first: WireFrame | null = null;
    let declared = 0;
    let received = 0;
    let wireBytes = 0;
    const pieces: Uint8Array[] = [];
    let finished = false;
    const finish = (refusal: Refusal | null): void => {
      if (finished) return;
      finished = true;
      if (refusal !== null) {
        this.refuse(cb, refusal);
        return;
      }
      assert(msg?.snapshot !== undefined && first !== null, 'a completed snapshot stream has its message');
      const auth = this.opts.auth;
      if (auth && !peerMacValid(auth, first.header, first.message, first.mac, { chunkBytes: declared, pieces })) {
        this.refuse(cb, unauthenticated());
        return;
      }
      msg.snapshot.chunk = concat(pieces, received);
      this.deliver(msg, wireBytes, cb);
    };
    call.on('data', (decoded: Decoded<WireFrame>) => {
      if (finished) return;
      if (!decoded.ok) return finish(invalid(decoded.reason));
      const frame = decoded.value;
      wireBytes += decoded.bytes;
      if (msg === null) {
        const admitted = this.admitFirstFrame(frame, this.certNames(call));
        if ('code' in admitted) return finish(admitted);
        msg = admitted.msg;
        declared = admitted.declared;
        first = frame;
      } else if (frame.message instanceof Uint8Array && frame.message.byteLength > 0) {
        return finish(invalid('frame: message repeated after the first frame'));
      }
      const data = frame.data instanceof Uint8Array ? frame.data : new Uint8Array(0);
      received += data.byteLength;
      if (received > declared) return finish(invalid('frame: more chunk bytes than declared'));
      if (data.byteLength > 0) pieces.push(data);
    });
    call.on('end', () => {
      if (msg === null) return finish(invalid('InstallSnapshot: no frames'));
      if (received !== declared) return finish(invalid(`InstallSnapshot: ${received} of ${declared} chunk bytes`));
      finish(null);
    });
    // A client that cancels or loses the connection: nothing to deliver, grpc-js ends the call.
    call.on('error', () => {
      finished = true;
    });
  }

  private admitFirstFrame(frame: WireFrame, names: string[] | null): { msg: Message; declared: number } | Refusal {
    // The MAC covers the whole chunk: checked once it is reassembled; a frame without one stops here.
    const macShaped = frame.mac instanceof Uint8Array && frame.mac.byteLength === PEER_MAC_BYTES;
    if (this.opts.auth && !macShaped) return unauthenticated();
    const msg = this.admit('InstallSnapshot', frame, true, names);
    if ('code' in msg) return msg;
    assert(msg.snapshot !== undefined, 'the codec requires snapshot on Snapshot messages');
    if (msg.snapshot.chunk.byteLength !== 0) return invalid('frame: the first frame message must have an empty chunk');
    const declared = frame.chunk_bytes;
    if (typeof declared !== 'number' || !Number.isSafeInteger(declared) || declared < 0) {
      return invalid('frame: chunk_bytes');
    }
    if (declared > this.opts.snapshotChunkBytesMax) {
      return {
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `snapshot chunk over ${this.opts.snapshotChunkBytesMax}`,
      };
    }
    return { msg, declared };
  }
}

type Unary = grpc.ServerUnaryCall<Decoded<WireRequest>, object>;
type FrameStream = grpc.ServerReadableStream<Decoded<WireFrame>, object>;
type RequestStream = grpc.ServerDuplexStream<Decoded<WireRequest>, object>;
type Callback = grpc.sendUnaryData<object>;

function invalid(details: string): Refusal {
  return { code: grpc.status.INVALID_ARGUMENT, details };
}

function unauthenticated(): Refusal {
  return { code: grpc.status.UNAUTHENTICATED, details: 'peer request without a valid MAC under the cluster secret' };
}

function notMember(from: string, names: string[]): Refusal {
  return {
    code: grpc.status.UNAUTHENTICATED,
    details: `message from ${from} over a TLS certificate naming ${names.join(', ') || 'nothing'}`,
  };
}

/** The proto-loader definition with request deserializers that report garbage instead of throwing. */
function serviceDefinition(): grpc.ServiceDefinition {
  const loaded = loadProtoFile('peer.proto')[PEER_SERVICE];
  assert(loaded !== undefined && 'Append' in loaded, `${PEER_SERVICE} is in peer.proto`);
  const service = loaded as grpc.ServiceDefinition;
  const safe: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    safe[name] = { ...method, requestDeserialize: safeDeserializer(method.requestDeserialize) };
  }
  return safe as grpc.ServiceDefinition;
}

function safeDeserializer(inner: (buf: Buffer) => unknown): (buf: Buffer) => Decoded<unknown> {
  return (buf) => {
    try {
      return { ok: true, value: inner(buf), bytes: buf.byteLength };
    } catch {
      return { ok: false, reason: 'protobuf: undecodable request' };
    }
  };
}

/** Counts calls that end (onCancel) without our handler having sent a status. */
function abortCounter(call: grpc.ServerInterceptingCallInterface, onAbort: () => void): grpc.ServerInterceptingCall {
  let answered = false;
  return new grpc.ServerInterceptingCall(call, {
    start: (next) =>
      next({
        onCancel: () => {
          if (!answered) onAbort();
        },
      }),
    sendStatus: (status, next) => {
      answered = true;
      next(status);
    },
  });
}

function concat(pieces: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.byteLength;
  }
  assert(at === total, 'snapshot pieces add up to the declared length');
  return out;
}
