// A member's own status as it travels over the peer port (peer.proto ClientForward.Status, issue 15):
// only what another member's console shows and cannot know itself. Decoding is total: hostile or
// malformed bytes give null (shown as unknown), never a throw.
import { encode, tryDecode } from '../protocol/codec.js';
import type { FsyncSummary, NodeStatus } from './executor.js';

export interface MemberOwnStatus {
  id: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  /** Its fsync latency over the last minute (null: no durable write in it, or not measured). */
  fsync: FsyncSummary | null;
  recovering: { index: number; term: number } | null;
  /** Its state machine versions (issue 16): the highest it runs, the active one as applied there. */
  smMax?: number;
  activeVersion?: number;
}

/** The request body: nothing to ask beyond "your status" (an empty map: the link sends no empty body). */
export function encodeStatusRequest(): Uint8Array {
  return encode({});
}

export function encodeMemberStatus(s: NodeStatus): Uint8Array {
  const out: MemberOwnStatus = {
    id: s.id,
    term: s.term,
    commitIndex: s.commitIndex,
    appliedIndex: s.appliedIndex,
    fsync: s.fsync ?? null,
    recovering: s.recovering ?? null,
    ...(s.smMax !== undefined ? { smMax: s.smMax } : {}),
    ...(s.activeVersion !== undefined ? { activeVersion: s.activeVersion } : {}),
  };
  return encode(out);
}

/** The reply as a plain object for the console's own checks (member-status.ts parses its fields). */
export function decodeMemberStatus(bytes: Uint8Array): Record<string, unknown> | null {
  const v = tryDecode(bytes);
  // A plain map only (msgpack extension values decode to other objects).
  const plain =
    v.ok && typeof v.value === 'object' && v.value !== null && Object.getPrototypeOf(v.value) === Object.prototype;
  return plain ? (v.value as Record<string, unknown>) : null;
}
