// The InstallSnapshot call's frames (peer.proto): one Snapshot message streamed in pieces.
import { assert } from '../protocol/assert.js';
import type { Message } from '../raft/types.js';
import { peerMac, type PeerAuth } from './peer-auth.js';
import { encodeMessage, headerOf } from './peer-codec.js';

/** Protobuf framing beyond the msgpack bytes: header strings, the MAC, field tags; an estimate for bounds. */
export const REQUEST_OVERHEAD_BYTES = 100;

/** The frames of one Snapshot message: the message with an empty chunk first, then the chunk's pieces. */
export function snapshotFrames(
  msg: Message,
  frameBytes: number,
  auth: PeerAuth | null,
): { frames: Iterator<object>; size: number } {
  assert(msg.snapshot !== undefined, 'Snapshot messages carry a snapshot chunk');
  assert(frameBytes > 0, 'snapshotFrameBytes is positive');
  const chunk = msg.snapshot.chunk;
  const head = encodeMessage({ ...msg, snapshot: { ...msg.snapshot, chunk: new Uint8Array(0) } });
  const header = headerOf(msg);
  const mac = auth ? { mac: peerMac(auth, header, head, { chunkBytes: chunk.byteLength, pieces: [chunk] }) } : {};
  function* generate(): Generator<object> {
    yield { header, message: head, chunk_bytes: chunk.byteLength, data: chunk.subarray(0, frameBytes), ...mac };
    for (let at = frameBytes; at < chunk.byteLength; at += frameBytes) {
      yield { data: chunk.subarray(at, at + frameBytes) };
    }
  }
  return { frames: generate(), size: head.byteLength + chunk.byteLength + REQUEST_OVERHEAD_BYTES };
}
