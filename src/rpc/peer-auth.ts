// Peer authentication without TLS (docs/security.md): every peer request carries an HMAC-SHA256 under
// the cluster secret over the cluster id, the routing header and the message bytes (for a snapshot,
// also the declared chunk length and the whole chunk). A request that fails it is dropped and counted.
// Replays of genuine messages inside the same cluster are not refused here: Raft already tolerates
// duplicated and reordered messages; a message from another cluster (other secret or other cluster id)
// never verifies. During a rotation a node also accepts MACs under the secrets in `accept` (never
// used to sign), so members can move to a new secret one at a time (docs/security.md).
import { createHmac, timingSafeEqual, type Hmac } from 'node:crypto';
import type { PeerHeader } from './peer-codec.js';

export interface PeerAuth {
  /** The cluster secret's bytes (the secret file's content, trimmed); replaced in place on a reload. */
  secret: Uint8Array;
  /** The configured cluster id, '' when none was configured. */
  clusterId: string;
  /** Further secrets accepted on receipt during a rotation; requests are signed with `secret` only. */
  accept?: readonly Uint8Array[];
}

export const PEER_MAC_BYTES = 32;
/** A secret shorter than this is refused at start-up (a guessable MAC key). */
export const PEER_SECRET_BYTES_MIN = 16;
const DOMAIN = 'raftq-peer-mac-v1';

/** The snapshot part of a mac: the declared chunk length, and the chunk (or its pieces, in order). */
export interface MacChunk {
  chunkBytes: number;
  pieces: readonly Uint8Array[];
}

export function peerMac(auth: PeerAuth, header: PeerHeader, message: Uint8Array, chunk?: MacChunk): Buffer {
  const h = createHmac('sha256', auth.secret);
  field(h, DOMAIN);
  field(h, auth.clusterId);
  for (const v of [header.group, header.term, header.from, header.to, header.type]) field(h, String(v));
  bytesField(h, message);
  if (chunk !== undefined) {
    field(h, String(chunk.chunkBytes));
    for (const p of chunk.pieces) h.update(p);
  }
  return h.digest();
}

/**
 * Whether `mac` is the right one for this wire request. The header comes from the wire: anything that
 * is not a well-formed header fails (the codec's header check, done later, then cannot matter).
 */
export function peerMacValid(
  auth: PeerAuth,
  header: unknown,
  message: unknown,
  mac: unknown,
  chunk?: MacChunk,
): boolean {
  if (!(mac instanceof Uint8Array) || mac.byteLength !== PEER_MAC_BYTES) return false;
  if (!(message instanceof Uint8Array)) return false;
  const h = wireHeader(header);
  if (h === null) return false;
  for (const secret of [auth.secret, ...(auth.accept ?? [])]) {
    if (timingSafeEqual(peerMac({ secret, clusterId: auth.clusterId }, h, message, chunk), mac)) return true;
  }
  return false;
}

function wireHeader(x: unknown): PeerHeader | null {
  if (typeof x !== 'object' || x === null) return null;
  const o = x as Record<string, unknown>;
  const { group, term, from, to, type } = o;
  const num = (v: unknown): boolean => typeof v === 'number' || typeof v === 'string';
  if (!num(group) || !num(term) || typeof from !== 'string' || typeof to !== 'string' || typeof type !== 'string')
    return null;
  return { group: Number(group), term: Number(term), from, to, type };
}

/** A length-prefixed field, so that no two different field lists feed the same bytes. */
function field(h: Hmac, s: string): void {
  bytesField(h, Buffer.from(s, 'utf8'));
}

function bytesField(h: Hmac, b: Uint8Array): void {
  const len = Buffer.alloc(8);
  len.writeBigUInt64BE(BigInt(b.byteLength));
  h.update(len);
  h.update(b);
}
