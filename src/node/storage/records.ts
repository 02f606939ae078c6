// Key layout and checksummed record codec of the durable store (layout described in durable-store.ts).
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { Entry, GroupId, HardState, Membership, SnapshotMeta, StorageId } from '../../raft/types.js';
import { asLogIndex, asTerm } from '../../protocol/ids.js';

export const FORMAT_VERSION = 1;

const KEY_GLOBAL = 0x00;
const KEY_GROUP = 0x01;
export const KIND_HARD_STATE = 0x01;
export const KIND_SNAPSHOT_META = 0x02;
export const KIND_LOG_START = 0x03;
export const KIND_ENTRY = 0x10;

const TWO_32 = 0x1_0000_0000;
const GROUP_PREFIX_BYTES = 6; // KEY_GROUP, group u32, kind
const ENTRY_KEY_BYTES = GROUP_PREFIX_BYTES + 8;

/** The one record outside any group: who this data dir is. */
export const IDENTITY_KEY = Uint8Array.of(KEY_GLOBAL, 0x69, 0x64); // "\0id"
/** The stamp of the newest persisted batch, matched against the promise file (promise-file.ts). */
export const PROMISE_SEQ_KEY = Uint8Array.of(KEY_GLOBAL, 0x70, 0x73); // "\0ps"

function groupKey(group: GroupId, kind: number, extra: number): Uint8Array {
  assertGroup(group);
  const key = new Uint8Array(GROUP_PREFIX_BYTES + extra);
  const view = new DataView(key.buffer);
  key[0] = KEY_GROUP;
  view.setUint32(1, group);
  key[5] = kind;
  return key;
}

function assertGroup(group: GroupId): void {
  if (!Number.isInteger(group) || group < 0 || group >= TWO_32) throw new RangeError(`bad group id ${group}`);
}

export function hardStateKey(group: GroupId): Uint8Array {
  return groupKey(group, KIND_HARD_STATE, 0);
}

export function snapshotMetaKey(group: GroupId): Uint8Array {
  return groupKey(group, KIND_SNAPSHOT_META, 0);
}

export function logStartKey(group: GroupId): Uint8Array {
  return groupKey(group, KIND_LOG_START, 0);
}

/** Fixed-width big-endian index, so LevelDB's byte order is numeric order. */
export function entryKey(group: GroupId, index: number): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`bad log index ${index}`);
  const key = groupKey(group, KIND_ENTRY, 8);
  const view = new DataView(key.buffer);
  view.setUint32(GROUP_PREFIX_BYTES, Math.floor(index / TWO_32));
  view.setUint32(GROUP_PREFIX_BYTES + 4, index >>> 0);
  return key;
}

/** The first key after every entry key of `group` (exclusive upper bound of a range scan). */
export function entryKeyEnd(group: GroupId): Uint8Array {
  return groupKey(group, KIND_ENTRY + 1, 0);
}

/** The log index named by an entry key of `group`, or null if `key` is not one. */
export function entryIndexOf(group: GroupId, key: Uint8Array): number | null {
  if (key.length !== ENTRY_KEY_BYTES) return null;
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  if (key[0] !== KEY_GROUP || view.getUint32(1) !== group || key[5] !== KIND_ENTRY) return null;
  return view.getUint32(GROUP_PREFIX_BYTES) * TWO_32 + view.getUint32(GROUP_PREFIX_BYTES + 4);
}

// Record value: crc32(key ‖ body) u32 BE, then body = format version u8 ‖ msgpack payload.
// The key is covered so a value copied under another key (a misdirected write) is caught too.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const CRC_BYTES = 4;

export function encodeRecord(key: Uint8Array, payload: unknown): Uint8Array {
  const packed = packr.pack(payload);
  const value = new Uint8Array(CRC_BYTES + 1 + packed.length);
  value[CRC_BYTES] = FORMAT_VERSION;
  value.set(packed, CRC_BYTES + 1);
  const body = value.subarray(CRC_BYTES);
  new DataView(value.buffer).setUint32(0, crc32(body, crc32(key)));
  return value;
}

export type Decoded = { ok: true; payload: unknown } | { ok: false; reason: string };

export function decodeRecord(key: Uint8Array, value: Uint8Array): Decoded {
  if (value.length < CRC_BYTES + 1) return { ok: false, reason: `record too short (${value.length} bytes)` };
  const body = value.subarray(CRC_BYTES);
  const stored = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0);
  if (crc32(body, crc32(key)) !== stored) return { ok: false, reason: 'checksum mismatch' };
  // Every older version is still read (a decoder upgrades its payload); a newer one is not ours.
  const version = body[0] as number;
  if (version < 1 || version > FORMAT_VERSION) return { ok: false, reason: `unknown record version ${version}` };
  try {
    return { ok: true, payload: packr.unpack(body.subarray(1)) };
  } catch (error) {
    return { ok: false, reason: `undecodable payload: ${String(error)}` };
  }
}

// Payload shapes. Decoders are structural checks: a record that passes the checksum but has the
// wrong shape is still damage (a bug or a format mix-up), never trusted.

export interface IdentityRecord {
  clusterId: string;
  storageId: StorageId;
  formatVersion: number;
}

/** "The log starts at firstIndex; the entry before it had prevTerm." Written before any compaction delete. */
export interface LogStartRecord {
  firstIndex: number;
  prevTerm: number;
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

export function asIdentity(x: unknown): IdentityRecord | null {
  if (!isRecord(x) || typeof x.clusterId !== 'string' || typeof x.storageId !== 'string') return null;
  if (!isCount(x.formatVersion)) return null;
  return { clusterId: x.clusterId, storageId: x.storageId, formatVersion: x.formatVersion };
}

export function asHardState(x: unknown): HardState | null {
  if (!isRecord(x) || !isCount(x.term) || !isCount(x.commit)) return null;
  if (x.vote !== null && typeof x.vote !== 'string') return null;
  const hs: HardState = { term: asTerm(x.term), vote: x.vote, commit: asLogIndex(x.commit) };
  if (x.recovery !== undefined) {
    const r = x.recovery;
    if (!isRecord(r) || !isCount(r.index) || !isCount(r.term)) return null;
    hs.recovery = { index: asLogIndex(r.index), term: asTerm(r.term) };
  }
  return hs;
}

export function asPromiseSeq(x: unknown): number | null {
  return isRecord(x) && isCount(x.seq) ? x.seq : null;
}

export function asLogStart(x: unknown): LogStartRecord | null {
  if (!isRecord(x) || !isCount(x.firstIndex) || x.firstIndex < 1 || !isCount(x.prevTerm)) return null;
  return { firstIndex: x.firstIndex, prevTerm: x.prevTerm };
}

function asMembership(x: unknown): Membership | null {
  // Members are checked by the Raft core when it adopts a configuration; here only the container.
  if (!isRecord(x) || !Array.isArray(x.members)) return null;
  if (x.outgoing !== undefined && x.outgoing !== null && !Array.isArray(x.outgoing)) return null;
  return x as unknown as Membership;
}

export function asSnapshotMeta(x: unknown): SnapshotMeta | null {
  if (!isRecord(x) || !isCount(x.group) || !isCount(x.index) || !isCount(x.term)) return null;
  const membership = asMembership(x.membership);
  if (membership === null) return null;
  return { group: x.group, index: asLogIndex(x.index), term: asTerm(x.term), membership };
}

export function asEntry(x: unknown): Entry | null {
  if (!isRecord(x) || !isCount(x.index) || !isCount(x.term)) return null;
  if (x.type !== 0 && x.type !== 1 && x.type !== 2) return null;
  if (!(x.data instanceof Uint8Array)) return null;
  // msgpackr hands back Buffers; callers get plain Uint8Arrays like the ones they persisted.
  const data = new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength);
  const entry: Entry = { index: asLogIndex(x.index), term: asTerm(x.term), type: x.type, data };
  if (x.config !== undefined && x.config !== null) {
    const config = asMembership(x.config);
    if (config === null) return null;
    entry.config = config;
  }
  return entry;
}

/** Plain-data form of an entry (drops an absent `config` rather than storing `undefined`). */
export function entryPayload(entry: Entry): Record<string, unknown> {
  const { index, term, type, data, config } = entry;
  return config === undefined ? { index, term, type, data } : { index, term, type, data, config };
}

export function snapshotMetaPayload(meta: SnapshotMeta): Record<string, unknown> {
  return { group: meta.group, index: meta.index, term: meta.term, membership: meta.membership };
}
