// The SDK's end of the raw Submit lane (src/protocol/submit-lane.ts): a TCP connection to a node's
// client port that carries one SubmitStream as SubmitPipe (submit-pipe.ts) drives a gRPC one — the
// same events ('metadata' once admitted, 'data' per reply, 'error' with a status, 'end'), `write` and
// `cancel` — without HTTP/2 and grpc-js per message, the largest part of the SDK's and the leader's
// cost per command (bench/RESULTS.md). A port that answers HTTP/2 instead of the magic is an older
// node: the stream fails UNIMPLEMENTED before anything ran, and the transport uses gRPC there.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { ErrorDetail } from '../protocol/errors.js';
import { FrameReader, MagicReader, TurnCork, encodeFrame, splitHostPort } from '../protocol/frames.js';
import { ERROR_METADATA_KEY } from '../protocol/proto.js';
import {
  LANE_ACCEPT,
  LANE_END,
  LANE_HELLO,
  LANE_MESSAGE,
  LANE_PING,
  LANE_PONG,
  SUBMIT_MAGIC,
  decodeEnd,
  encodeHello,
  type LaneHello,
} from '../protocol/submit-lane.js';
import type { Message } from '../protocol/wire-values.js';

export interface RawSubmitOptions {
  hello: LaneHello;
  /** A silent connection is pinged after this long, and closed after twice this long. */
  keepaliveTimeMs: number;
  /** Largest reply frame accepted. */
  frameBytesMax: number;
  serialize(request: Message): Buffer;
  deserialize(bytes: Buffer): Message;
}

/** A failed stream, shaped as grpc-js's ServiceError (grpc-transport.ts detailFromServiceError reads it). */
function laneError(code: grpc.status, message: string, detail?: ErrorDetail): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (detail !== undefined) metadata.set(ERROR_METADATA_KEY, JSON.stringify(detail));
  return Object.assign(new Error(message), { code, details: message, metadata });
}

export class RawSubmitDuplex extends EventEmitter {
  private readonly socket: net.Socket;
  private readonly magic = new MagicReader(SUBMIT_MAGIC);
  private readonly frames: FrameReader;
  private handshaken = false;
  private done = false;
  /** Bytes came in since the last keepalive tick; a ping is out unanswered. */
  private heard = false;
  private pinged = false;
  private readonly timer: NodeJS.Timeout;
  /** The requests of one turn (an enqueue batch, a lease, acks) leave in one write. */
  private readonly cork: TurnCork;

  constructor(
    address: string,
    private readonly o: RawSubmitOptions,
  ) {
    super();
    this.frames = new FrameReader(o.frameBytesMax);
    const { host, port } = splitHostPort(address);
    this.socket = net.connect({ host, port, noDelay: true });
    this.cork = new TurnCork(this.socket);
    this.socket.write(Buffer.concat([SUBMIT_MAGIC, encodeFrame(LANE_HELLO, encodeHello(o.hello))]));
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.on('error', (e) => this.fail(grpc.status.UNAVAILABLE, `raw submit lane: ${e.message}`));
    this.socket.on('close', () => this.fail(grpc.status.UNAVAILABLE, 'raw submit lane: connection closed'));
    this.timer = setInterval(() => this.keepalive(), o.keepaliveTimeMs);
    this.timer.unref();
  }

  write(request: Message): void {
    if (this.done) return;
    this.cork.hold();
    this.socket.write(encodeFrame(LANE_MESSAGE, this.o.serialize(request)));
  }

  /** Closes the connection; no event follows (the pipe fails what is unanswered itself). */
  cancel(): void {
    if (this.done) return;
    this.stop();
  }

  private read(chunk: Buffer): void {
    if (this.done) return;
    this.heard = true;
    let rest = chunk;
    if (!this.handshaken) {
      const m = this.magic.push(chunk);
      if (m === 'more') return;
      if (m === 'bad') return this.notRaw();
      this.handshaken = true;
      rest = m;
    }
    const got = this.frames.push(rest);
    if (typeof got === 'string') return this.fail(grpc.status.UNAVAILABLE, `raw submit lane: ${got}`);
    for (const f of got) {
      if (this.done) return;
      this.onFrame(f.kind, f.body);
    }
  }

  private onFrame(kind: number, body: Uint8Array): void {
    if (kind === LANE_ACCEPT) this.emit('metadata', new grpc.Metadata());
    else if (kind === LANE_MESSAGE) this.onReply(body);
    else if (kind === LANE_END) this.onEnd(body);
    else if (kind !== LANE_PONG) this.fail(grpc.status.UNAVAILABLE, `raw submit lane: frame kind ${kind}`);
  }

  private onReply(body: Uint8Array): void {
    let reply: Message;
    try {
      reply = this.o.deserialize(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    } catch {
      return this.fail(grpc.status.UNAVAILABLE, 'raw submit lane: an undecodable reply');
    }
    this.emit('data', reply);
  }

  private onEnd(body: Uint8Array): void {
    const detail = decodeEnd(body);
    if (detail === undefined) return this.fail(grpc.status.UNAVAILABLE, 'raw submit lane: an undecodable end');
    if (detail !== null) return this.fail(grpc.status.UNKNOWN, detail.message, detail);
    this.stop();
    this.emit('end');
  }

  /**
   * The answer is not the magic. HTTP/2's SETTINGS frame is an older node's gRPC-only port: nothing ran
   * there, so UNIMPLEMENTED (the transport then uses gRPC). Anything else is a garbled connection.
   */
  private notRaw(): void {
    const h2 = this.magic.http2();
    if (h2 === 'more') return;
    if (h2) this.fail(grpc.status.UNIMPLEMENTED, 'the node has no raw submit lane');
    else this.fail(grpc.status.UNAVAILABLE, 'raw submit lane: the node answered neither the lane nor HTTP/2');
  }

  /** A tick with nothing heard pings; a second one closes the connection (as gRPC's keepalive would). */
  private keepalive(): void {
    if (this.done) return;
    if (this.heard) {
      this.heard = false;
      this.pinged = false;
      return;
    }
    if (this.pinged) return this.fail(grpc.status.UNAVAILABLE, 'raw submit lane: keepalive ping unanswered');
    this.pinged = true;
    this.socket.write(encodeFrame(LANE_PING, new Uint8Array(0)));
  }

  private fail(code: grpc.status, message: string, detail?: ErrorDetail): void {
    if (this.done) return;
    this.stop();
    this.emit('error', laneError(code, message, detail));
  }

  private stop(): void {
    this.done = true;
    clearInterval(this.timer);
    this.socket.destroy();
  }
}
