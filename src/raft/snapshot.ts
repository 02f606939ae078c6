// Snapshot transfer: a leader sends its newest snapshot to a follower that needs compacted entries,
// chunk by chunk, each acknowledged before the next; the follower assembles the chunks of one
// snapshot in order and hands the whole to the core to install.

import { assert } from '../protocol/assert.js';
import type { RaftLog } from './log.js';
import type { Progress, SnapshotTransfer } from './progress.js';
import type { GroupId, Membership, Message, Snapshot, SnapshotMeta } from './types.js';
import { asLogIndex, asTerm } from '../protocol/ids.js';

export type SnapshotChunk = NonNullable<Message['snapshot']>;

/**
 * Builds a snapshot of the application's state at an applied index, carrying the configuration in
 * effect there. The driver persists it (storage.createSnapshot), then may compact the log.
 */
export function buildSnapshot(
  log: RaftLog,
  group: GroupId,
  index: number,
  data: Uint8Array,
  membershipAt: (index: number) => Membership,
): Snapshot {
  return { meta: snapshotMetaAt(log, group, index, membershipAt), data };
}

/** The meta of a snapshot at an applied index, for a driver that streams the data to its file. */
export function snapshotMetaAt(
  log: RaftLog,
  group: GroupId,
  index: number,
  membershipAt: (index: number) => Membership,
): SnapshotMeta {
  assert(index <= log.applying, `raft invariant: snapshot at ${index} beyond applied ${log.applying}`);
  const term = log.term(index);
  assert(term !== undefined, `raft invariant: snapshot at ${index}: term unknown (compacted?)`);
  return { group, index: asLogIndex(index), term: asTerm(term), membership: membershipAt(index) };
}

/** Leader: the next chunk of the transfer to one follower, from what it acknowledged. */
export function nextChunk(t: SnapshotTransfer, chunkBytes: number): SnapshotChunk {
  const data = t.snapshot.data;
  const offset = t.acked;
  const chunk = data.subarray(offset, Math.min(data.length, offset + chunkBytes));
  t.idleTicks = 0;
  return { meta: t.snapshot.meta, offset, chunk, done: offset + chunk.length >= data.length, total: data.length };
}

/** Leader: records a follower's acknowledgement; false when it is not about the transfer in progress. */
export function ackChunk(pr: Progress, m: Message): boolean {
  const t = pr.snapshot;
  // snapshotIndex tells acks of an earlier transfer apart; without it a stale offset is harmless (the
  // follower only assembles chunks of one snapshot, in order, and answers with what it really holds).
  const other = m.snapshotIndex !== undefined && m.snapshotIndex !== null && m.snapshotIndex !== t?.snapshot.meta.index;
  if (pr.state !== 'snapshot' || t === null || other) return false;
  t.acked = Math.min(m.index ?? 0, t.snapshot.data.length);
  return true;
}

interface IncomingSnapshot {
  meta: SnapshotMeta;
  chunks: Uint8Array[];
  received: number;
}

/** Follower: assembles the chunks of one snapshot at a time. */
export class SnapshotReceiver {
  private incoming: IncomingSnapshot | null = null;

  /** Forgets a partial transfer (we already hold what it would give). */
  reset(): void {
    this.incoming = null;
  }

  /** Takes one chunk: the whole snapshot once complete, else the bytes held so far (to acknowledge). */
  receive(s: SnapshotChunk): Snapshot | number {
    const meta = s.meta;
    let inc = this.incoming;
    if (inc === null || inc.meta.index !== meta.index || inc.meta.term !== meta.term) {
      if (s.offset !== 0) return 0; // the start of this snapshot was lost: ask for it again
      inc = { meta, chunks: [], received: 0 };
      this.incoming = inc;
    }
    if (s.offset === inc.received && s.chunk.length > 0) {
      inc.chunks.push(s.chunk);
      inc.received += s.chunk.length;
    }
    if (!s.done || inc.received < s.total) return inc.received;
    this.incoming = null;
    return { meta, data: concatChunks(inc.chunks, inc.received) };
  }
}

function concatChunks(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
