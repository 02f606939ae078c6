// Structural checks for messages that arrive from the network: a malformed message is counted and
// dropped by the core instead of throwing somewhere deep inside step().

import { EntryType, MessageType } from './types.js';
import type { Entry, Membership, Message } from './types.js';

const messageTypes = new Set<string>(Object.values(MessageType));

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Optional fields may arrive as null from codecs that do not keep `undefined`. */
function isOptIndex(v: unknown): boolean {
  return v === undefined || v === null || isIndex(v);
}

export function isMembership(v: unknown): v is Membership {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Membership;
  const okList = (list: unknown): boolean =>
    Array.isArray(list) &&
    list.every(
      (x: unknown) =>
        typeof x === 'object' &&
        x !== null &&
        typeof (x as { id: unknown }).id === 'string' &&
        typeof (x as { storageId: unknown }).storageId === 'string' &&
        typeof (x as { address: unknown }).address === 'string' &&
        ['string', 'undefined'].includes(typeof (x as { peerAddress?: unknown }).peerAddress) &&
        ((x as { role: unknown }).role === 'voter' || (x as { role: unknown }).role === 'learner'),
    );
  return okList(m.members) && (m.outgoing === undefined || okList(m.outgoing));
}

function isEntry(v: unknown, index: number, maxTerm: number): v is Entry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Entry;
  if (e.index !== index || !isIndex(e.term) || e.term < 1 || e.term > maxTerm) return false;
  if (!(e.data instanceof Uint8Array)) return false;
  if (e.type === EntryType.Config) return isMembership(e.config);
  return e.type === EntryType.Normal || e.type === EntryType.NoOp;
}

/** Whether `m` is well-formed for its type (group and addressee are checked by the caller). */
export function isWellFormed(m: unknown): m is Message {
  if (typeof m !== 'object' || m === null) return false;
  const msg = m as Message;
  if (typeof msg.type !== 'string' || !messageTypes.has(msg.type)) return false;
  if (!isIndex(msg.term) || !isIndex(msg.group)) return false;
  if (typeof msg.from !== 'string' || msg.from === '' || typeof msg.to !== 'string') return false;
  if (typeof msg.fromStorage !== 'string') return false;
  if (msg.toStorage !== undefined && typeof msg.toStorage !== 'string') return false;
  if (!isOptIndex(msg.index) || !isOptIndex(msg.logTerm) || !isOptIndex(msg.commit)) return false;
  if (!isOptIndex(msg.context) || !isOptIndex(msg.rejectHint) || !isOptIndex(msg.rejectTerm)) return false;
  if (!isOptIndex(msg.snapshotIndex)) return false;
  switch (msg.type) {
    case MessageType.Append: {
      if (!isIndex(msg.index) || !isIndex(msg.logTerm) || !isIndex(msg.commit)) return false;
      if (msg.logTerm > msg.term || (msg.index === 0 && msg.logTerm !== 0)) return false;
      const entries: unknown = msg.entries ?? [];
      if (!Array.isArray(entries)) return false;
      let prevTerm = msg.logTerm;
      for (let k = 0; k < entries.length; k++) {
        const e: unknown = entries[k];
        if (!isEntry(e, msg.index + 1 + k, msg.term) || e.term < prevTerm) return false;
        prevTerm = e.term;
      }
      return true;
    }
    case MessageType.AppendResp:
      return isIndex(msg.index) && (msg.reject !== true || isIndex(msg.rejectHint));
    case MessageType.Vote:
    case MessageType.PreVote:
      return isIndex(msg.index) && isIndex(msg.logTerm) && msg.logTerm <= msg.term;
    case MessageType.Heartbeat:
      return isIndex(msg.commit);
    case MessageType.Snapshot:
      return isSnapshotChunk(msg.snapshot, msg.group);
    case MessageType.SnapshotResp:
      return isIndex(msg.index) && isOptIndex(msg.snapshotIndex);
    default:
      return true;
  }
}

function isSnapshotChunk(v: unknown, group: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as NonNullable<Message['snapshot']>;
  const meta = s.meta as unknown;
  if (typeof meta !== 'object' || meta === null) return false;
  const mm = s.meta;
  if (mm.group !== group || !isIndex(mm.index) || mm.index < 1 || !isIndex(mm.term) || mm.term < 1) return false;
  if (!isMembership(mm.membership)) return false;
  if (!isIndex(s.offset) || !isIndex(s.total) || !(s.chunk instanceof Uint8Array)) return false;
  return typeof s.done === 'boolean' && s.offset + s.chunk.length <= s.total;
}
