// The node's end of the raw Submit lane (src/protocol/submit-lane.ts): a plaintext client-port
// connection that opens with SUBMIT_MAGIC carries one SubmitStream without HTTP/2. Each connection is
// given to the very SubmitStream handler of the gRPC service (submit-stream.ts) as its call, so every
// request keeps the Submit call's meaning: admission, tokens and grants, validation, the executor.
// What gRPC's interceptors do for a stream is done here at the same points: the connection limit and
// the calls in flight when the stream opens (its HELLO), the request rate per request.
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { ErrorDetail } from '../protocol/errors.js';
import { FrameReader, MagicReader, TurnCork, encodeFrame } from '../protocol/frames.js';
import { FORWARD_METADATA_KEY } from '../protocol/proto.js';
import {
  LANE_ACCEPT,
  LANE_END,
  LANE_HELLO,
  LANE_MESSAGE,
  LANE_PING,
  LANE_PONG,
  SUBMIT_MAGIC,
  decodeHello,
  encodeEnd,
  type LaneHello,
} from '../protocol/submit-lane.js';
import type { Message } from '../protocol/wire-values.js';
import { statusDetail, type SubmitDuplex } from './submit-stream.js';

type Decoded = { ok: true; value: Message } | { ok: false; reason: string };

/**
 * Reply bytes a lane may have waiting in its socket; beyond, it reads no more requests until they
 * drain (HTTP/2's flow control bounds a gRPC stream the same way), so a client that sends without
 * reading cannot fill the node's memory.
 */
const UNSENT_BYTES_MAX = 8 * 1024 * 1024;
type Injector = ReturnType<grpc.Server['createConnectionInjector']>;

export interface RawSubmitServerOptions {
  /** The SubmitStream method's implementation (submit-stream.ts submitStreamHandler). */
  handler: (call: SubmitDuplex) => void;
  /** client.proto's (de)serializers of SubmitStream; `deserialize` reports garbage, never throws. */
  deserialize(bytes: Buffer): Decoded;
  serialize(reply: Message): Buffer;
  frameBytesMax: number;
  /** A connection silent for four of these is closed (the SDK pings after one). */
  keepaliveTimeMs: number;
  /** Admits the stream as a SubmitStream call from `peer`: a release for its end, or the refusal. */
  admit(peer: string, authorization: string | undefined): { release: () => void } | ErrorDetail;
  /** A request over the request rate: the reply that refuses it (the handler never sees it), else null. */
  refuseRequest(peer: string, authorization: string | undefined, request: Decoded): Message | null;
  /** Raw connections open now (closed at shutdown), and streams opened on the lane (cumulative). */
  sockets: Set<net.Socket>;
  stats: { opened: number };
}

/**
 * Sends a client-port connection to the raw lane if it opens with the magic's first byte, else byte for
 * byte to grpc-js through its connection injector (HTTP/2 opens with 'P').
 */
export function sniffClientConnection(socket: net.Socket, injector: Injector, o: RawSubmitServerOptions): void {
  socket.on('error', () => socket.destroy());
  socket.setTimeout(o.keepaliveTimeMs, () => socket.destroy());
  socket.once('data', (first: Buffer) => {
    socket.setTimeout(0);
    if (first[0] === SUBMIT_MAGIC[0]) return serveRawSubmit(socket, first, o);
    socket.pause();
    socket.unshift(first);
    injector.injectConnection(socket);
  });
}

/** One raw connection: magic and HELLO, then requests in and replies out until either side ends. */
function serveRawSubmit(socket: net.Socket, first: Buffer, o: RawSubmitServerOptions): void {
  o.sockets.add(socket);
  socket.setNoDelay(true);
  socket.setKeepAlive(true, o.keepaliveTimeMs);
  socket.setTimeout(4 * o.keepaliveTimeMs, () => socket.destroy());
  const magic = new MagicReader(SUBMIT_MAGIC);
  const frames = new FrameReader(o.frameBytesMax);
  const peer = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
  let handshaken = false;
  let call: RawSubmitCall | null = null;
  const refuse = (detail: ErrorDetail): void => {
    socket.end(encodeFrame(LANE_END, encodeEnd(detail)));
  };
  const malformed = (reason: string): void =>
    refuse({ code: 'INVALID_ARGUMENT', message: `raw submit lane: ${reason}`, field: 'frame' });
  const onFrame = (kind: number, body: Uint8Array): void => {
    if (call !== null) {
      if (kind === LANE_MESSAGE) return call.request(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
      if (kind === LANE_PING) return void socket.write(encodeFrame(LANE_PONG, new Uint8Array(0)));
      return malformed(`frame kind ${kind} after the hello`);
    }
    if (kind !== LANE_HELLO) return malformed(`frame kind ${kind} before the hello`);
    const hello = decodeHello(body);
    if (typeof hello === 'string') return refuse({ code: 'INVALID_ARGUMENT', message: hello, field: 'hello' });
    const admitted = o.admit(peer, hello.authorization);
    if ('code' in admitted) return refuse(admitted);
    o.stats.opened += 1;
    call = new RawSubmitCall(socket, peer, hello, o, admitted.release);
    o.handler(call as unknown as SubmitDuplex);
  };
  const read = (chunk: Buffer): void => {
    let rest = chunk;
    if (!handshaken) {
      const m = magic.push(chunk);
      if (m === 'more') return;
      if (m === 'bad') return void socket.destroy();
      handshaken = true;
      socket.write(SUBMIT_MAGIC);
      rest = m;
    }
    const got = frames.push(rest);
    if (typeof got === 'string') return malformed(got);
    for (const f of got) {
      if (socket.destroyed || !socket.writable) return;
      onFrame(f.kind, f.body);
    }
  };
  socket.on('data', read);
  socket.on('end', () => call?.emit('end'));
  socket.on('close', () => {
    o.sockets.delete(socket);
    call?.closed();
  });
  read(first);
}

/** One raw stream as the SubmitStream handler sees its call (what it uses of grpc-js's). */
class RawSubmitCall extends EventEmitter {
  readonly metadata = new grpc.Metadata();
  private ended = false;
  /** The answers of one applied entry leave in one write. */
  private readonly cork: TurnCork;

  constructor(
    private readonly socket: net.Socket,
    private readonly peer: string,
    private readonly hello: LaneHello,
    private readonly o: RawSubmitServerOptions,
    private readonly release: () => void,
  ) {
    super();
    this.cork = new TurnCork(socket);
    if (hello.authorization !== undefined) this.metadata.set('authorization', hello.authorization);
    if (hello.forward === true) this.metadata.set(FORWARD_METADATA_KEY, '1');
    // The handler ends a stream with a status by emitting it as an error (as on a gRPC call).
    this.on('error', (err: grpc.ServiceError) => this.finish(statusDetail(err)));
  }

  getPeer(): string {
    return this.peer;
  }

  sendMetadata(): void {
    this.socket.write(encodeFrame(LANE_ACCEPT, new Uint8Array(0)));
  }

  write(reply: Message): void {
    if (this.ended) return;
    this.cork.hold();
    this.socket.write(encodeFrame(LANE_MESSAGE, this.o.serialize(reply)));
    if (this.socket.writableLength > UNSENT_BYTES_MAX && !this.socket.isPaused()) {
      this.socket.pause();
      this.socket.once('drain', () => this.socket.resume());
    }
  }

  end(): void {
    this.finish(null);
  }

  request(bytes: Buffer): void {
    const decoded = this.o.deserialize(bytes);
    const refused = this.o.refuseRequest(this.peer, this.hello.authorization, decoded);
    if (refused !== null) this.write(refused);
    else this.emit('data', decoded);
  }

  /** The connection closed: requests in flight are cancelled. */
  closed(): void {
    this.release();
    if (this.ended) return;
    this.ended = true;
    this.emit('cancelled');
  }

  private finish(detail: ErrorDetail | null): void {
    if (this.ended) return;
    this.ended = true;
    this.release();
    this.socket.end(encodeFrame(LANE_END, encodeEnd(detail)));
  }
}
