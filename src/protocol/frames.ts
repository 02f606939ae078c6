// Length-prefixed frames on a raw TCP stream, shared by the raw peer stream (src/rpc/peer-frames.ts)
// and the raw Submit lane (src/client/raw-submit.ts, src/rpc/submit-raw.ts):
//   u32 length of what follows | u8 kind | u8 MAC length | MAC | body
// Each stream opens with a magic of its own; its first byte tells a port's listener the stream from
// HTTP/2 ('P') and TLS (0x16).
import { assert } from './assert.js';

const HEAD_BYTES = 4 + 1 + 1;

export interface Frame {
  kind: number;
  mac: Uint8Array;
  body: Uint8Array;
}

/** One frame's bytes. */
export function encodeFrame(kind: number, body: Uint8Array, mac?: Uint8Array): Buffer {
  const macBytes = mac?.byteLength ?? 0;
  assert(macBytes < 256, 'a MAC fits its one-byte length');
  const out = Buffer.allocUnsafe(HEAD_BYTES + macBytes + body.byteLength);
  out.writeUInt32BE(2 + macBytes + body.byteLength, 0);
  out[4] = kind;
  out[5] = macBytes;
  if (mac !== undefined) out.set(mac, HEAD_BYTES);
  out.set(body, HEAD_BYTES + macBytes);
  return out;
}

/**
 * Cuts a byte stream into frames. `push` returns the complete frames so far, or a reason string
 * when the stream is malformed (the connection must then be closed: framing cannot resynchronise).
 */
export class FrameReader {
  /** Bytes not yet cut into frames, as they came: a large frame is copied once, when it is whole. */
  private chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly frameBytesMax: number) {}

  push(chunk: Buffer): Frame[] | string {
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
    const frames: Frame[] = [];
    while (this.bytes >= 4) {
      const head = this.front(Math.min(this.bytes, HEAD_BYTES));
      const length = head.readUInt32BE(0);
      if (length < 2) return `frame: length ${length} below its header`;
      if (length > this.frameBytesMax) return `frame: ${length} bytes, over the limit of ${this.frameBytesMax}`;
      if (head.byteLength < HEAD_BYTES) break;
      const macBytes = head[5] as number;
      if (2 + macBytes > length) return `frame: MAC length ${macBytes} beyond the frame`;
      if (this.bytes < 4 + length) break;
      const buf = this.take(4 + length);
      frames.push({
        kind: buf[4] as number,
        mac: buf.subarray(HEAD_BYTES, HEAD_BYTES + macBytes),
        body: buf.subarray(HEAD_BYTES + macBytes),
      });
    }
    return frames;
  }

  /** The first `n` buffered bytes (n <= this.bytes) as one buffer, merging the first chunks if needed. */
  private front(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.byteLength >= n) return first;
    const merged = Buffer.concat(this.chunks);
    this.chunks = [merged];
    return merged;
  }

  /** Removes and returns the first `n` buffered bytes. */
  private take(n: number): Buffer {
    const out = this.front(n).subarray(0, n);
    const first = this.chunks[0] as Buffer;
    if (first.byteLength === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.bytes -= n;
    return out;
  }
}

/** Reads a stream's magic (its opening bytes) off its front: 'more', 'bad', or the bytes after it. */
export class MagicReader {
  private seen: Buffer = Buffer.alloc(0);

  constructor(private readonly magic: Buffer) {}

  push(chunk: Buffer): 'more' | 'bad' | Buffer {
    this.seen = this.seen.byteLength === 0 ? chunk : Buffer.concat([this.seen, chunk]);
    const n = Math.min(this.seen.byteLength, this.magic.byteLength);
    if (!this.seen.subarray(0, n).equals(this.magic.subarray(0, n))) return 'bad';
    if (n < this.magic.byteLength) return 'more';
    return this.seen.subarray(this.magic.byteLength);
  }

  /**
   * After 'bad': whether the answer is an HTTP/2 server's first frame, SETTINGS (type 4, stream 0) —
   * what a port without the raw stream sends — or 'more' until its 9-byte header is in. Anything else
   * is a connection that lost or garbled bytes (a proxy, a broken path), not an older peer.
   */
  http2(): boolean | 'more' {
    if (this.seen.byteLength < HTTP2_FRAME_HEAD_BYTES) return 'more';
    return this.seen[3] === HTTP2_SETTINGS && (this.seen.readUInt32BE(5) & 0x7fffffff) === 0;
  }
}

const HTTP2_FRAME_HEAD_BYTES = 9;
const HTTP2_SETTINGS = 4;

/** host and port of "host:port" or "[v6]:port". */
export function splitHostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  let host = address.slice(0, at);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(address.slice(at + 1)) };
}

/** What TurnCork needs of a socket (net.Socket has it). */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * Holds a socket's writes until the current turn and its microtasks are done, so that the frames
 * one turn writes (the answers of one applied entry, a Ready's messages) leave in one writev: on
 * loopback each write is a syscall that also runs the receiver's side of TCP and wakes it.
 * Call `hold()` before each write; `process.nextTick` queued from a microtask runs once the
 * microtask queue is empty.
 */
export class TurnCork {
  private held = false;

  constructor(private readonly socket: Corkable) {}

  hold(): void {
    if (this.held) return;
    this.held = true;
    this.socket.cork();
    process.nextTick(this.release);
  }

  private readonly release = (): void => {
    this.held = false;
    this.socket.uncork();
  };
}
