// The raw Submit lane (issue 11; docs/decisions.md "Submits travel on a raw TCP lane on plaintext
// client ports"): the SubmitStream method's requests and replies, protobuf-encoded exactly as gRPC carries them, in frames (frames.ts)
// on a plain TCP connection to the client port, without HTTP/2. The SDK opens with SUBMIT_MAGIC and a
// HELLO frame; the node answers with SUBMIT_MAGIC, then ACCEPT (gRPC's response headers: the stream
// is admitted) or END with the refusal. Then:
//   MESSAGE  SubmitStreamRequest (SDK → node) or SubmitStreamReply (node → SDK), protobuf bytes;
//   END      node → SDK, the stream's end: empty (clean) or a JSON ErrorDetail (its status);
//   PING     SDK → node, answered by PONG (the lane's keepalive; gRPC has HTTP/2 pings).
// Plaintext ports only: a TLS port never sees the magic's first byte ('R') in the clear.
import { isErrorDetail, type ErrorDetail } from './errors.js';

export const SUBMIT_MAGIC = Buffer.from('RAFTQS1\n', 'latin1');
export const LANE_HELLO = 1;
export const LANE_ACCEPT = 2;
export const LANE_MESSAGE = 3;
export const LANE_END = 4;
export const LANE_PING = 5;
export const LANE_PONG = 6;

/** The HELLO frame's body: what a gRPC stream's metadata would carry. */
export interface LaneHello {
  /** `Bearer <token>`, as the `authorization` metadata. */
  authorization?: string;
  /** A follower may forward the stream's commands to the leader (`raftq-forward: 1`). */
  forward?: boolean;
}

/** Largest HELLO body accepted (a token and a flag). */
export const HELLO_BYTES_MAX = 8 * 1024;

export function encodeHello(h: LaneHello): Buffer {
  return Buffer.from(JSON.stringify(h), 'utf8');
}

/** The HELLO of `body`, or a reason naming the field that is wrong. */
export function decodeHello(body: Uint8Array): LaneHello | string {
  if (body.byteLength > HELLO_BYTES_MAX) return `hello: ${body.byteLength} bytes, over ${HELLO_BYTES_MAX}`;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    return 'hello: not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'hello: not an object';
  const { authorization, forward } = v as Record<string, unknown>;
  if (authorization !== undefined && typeof authorization !== 'string') return 'hello.authorization: not a string';
  if (forward !== undefined && typeof forward !== 'boolean') return 'hello.forward: not a boolean';
  return {
    ...(authorization !== undefined ? { authorization } : {}),
    ...(forward !== undefined ? { forward } : {}),
  };
}

/** An END frame's body: empty for a clean end, else the status's detail. */
export function encodeEnd(detail: ErrorDetail | null): Buffer {
  return detail === null ? Buffer.alloc(0) : Buffer.from(JSON.stringify(detail), 'utf8');
}

/** An END body's detail: null for a clean end, the detail, or undefined when it is not one. */
export function decodeEnd(body: Uint8Array): ErrorDetail | null | undefined {
  if (body.byteLength === 0) return null;
  try {
    const v: unknown = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    return isErrorDetail(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
