// The raw peer stream (docs/decisions.md "Raft messages on a raw TCP stream"): the same one-way
// messages as the gRPC Stream method, without HTTP/2 and gRPC per message, on the same peer port.
// The dialler opens with PEER_MAGIC, the server answers with it, then both sides send frames:
//   u32 length of what follows | u8 kind | u8 MAC length | MAC | body
// kind 1: a Raft message, body = its msgpack bytes (peer-codec.ts), MAC as in RaftRequest.mac;
// kind 2: an acknowledgement, body = u64 count of messages the server has taken on this connection.
// The first byte tells the port's listener this stream from HTTP/2 ('P') and TLS (0x16).
import { MagicReader as StreamMagicReader, encodeFrame } from '../protocol/frames.js';

export { FrameReader, encodeFrame, splitHostPort, type Frame } from '../protocol/frames.js';

export const PEER_MAGIC = Buffer.from('RAFTQP1\n', 'latin1');
export const FRAME_MESSAGE = 1;
export const FRAME_ACK = 2;

export function encodeAck(received: number): Buffer {
  const body = Buffer.allocUnsafe(8);
  body.writeBigUInt64BE(BigInt(received));
  return encodeFrame(FRAME_ACK, body);
}

/** The count in an ack frame's body, or null if the body is not one. */
export function decodeAck(body: Uint8Array): number | null {
  if (body.byteLength !== 8) return null;
  const n = Buffer.from(body.buffer, body.byteOffset, 8).readBigUInt64BE();
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : null;
}

/** Reads the peer's PEER_MAGIC off the front of a stream (frames.ts MagicReader). */
export class MagicReader extends StreamMagicReader {
  constructor() {
    super(PEER_MAGIC);
  }
}
