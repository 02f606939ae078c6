// Peer authentication without TLS (docs/security.md): every peer request carries an HMAC-SHA256 under
// the cluster secret over the cluster id, the routing header and the message bytes (for a snapshot,
// also the declared chunk length and the whole chunk). A request that fails it is dropped and counted.
// Replays of genuine messages inside the same cluster are not refused here: Raft already tolerates
// duplicated and reordered messages; a message from another cluster (other secret or other cluster id)
// never verifies. During a rotation a node also accepts MACs under the secrets in `accept` (never
// used to sign), so members can move to a new secret one at a time (docs/security.md).
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
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
  const h = createHmac('sha256', keyOf(auth.secret));
  // Every length-prefixed field before the message in one update: a heartbeat's MAC was mostly the
  // per-field buffers and native calls (bench/RESULTS.md, idle profile). The bytes fed are unchanged.
  const fields = [
    DOMAIN,
    auth.clusterId,
    String(header.group),
    String(header.term),
    header.from,
    header.to,
    header.type,
  ];
  h.update(prefixed(fields, message.byteLength));
  h.update(message);
  if (chunk !== undefined) {
    h.update(prefixed([String(chunk.chunkBytes)]));
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

/** The secret as a key object, made once per secret (a reload replaces the array, so a new key). */
const keys = new WeakMap<Uint8Array, KeyObject>();
function keyOf(secret: Uint8Array): KeyObject {
  let k = keys.get(secret);
  if (k === undefined) {
    k = createSecretKey(secret);
    keys.set(secret, k);
  }
  return k;
}

/**
 * Each field as an 8-byte big-endian length and its UTF-8 bytes, then (if given) the length prefix of
 * bytes that follow in their own update, so that no two different field lists feed the same bytes.
 */
function prefixed(fields: readonly string[], nextBytes?: number): Buffer {
  let n = nextBytes === undefined ? 0 : 8;
  for (const f of fields) n += 8 + Buffer.byteLength(f, 'utf8');
  const out = Buffer.allocUnsafe(n);
  let off = 0;
  for (const f of fields) {
    const len = Buffer.byteLength(f, 'utf8');
    out.writeUInt32BE(Math.floor(len / 2 ** 32), off);
    out.writeUInt32BE(len >>> 0, off + 4);
    out.write(f, off + 8, 'utf8');
    off += 8 + len;
  }
  if (nextBytes !== undefined) {
    out.writeUInt32BE(Math.floor(nextBytes / 2 ** 32), off);
    out.writeUInt32BE(nextBytes >>> 0, off + 4);
  }
  return out;
}
