// The persist plan: what one Ready's write does to a group's log, as pure functions. `planPersist`
// validates the request against the group (a broken contract is a StoreContractError and nothing is
// written) and lists the record operations; `applyPlan` then moves the in-memory view to match.
import { asLogIndex } from '../../protocol/ids.js';
import { EntryType } from '../../raft/types.js';
import type { Entry, GroupId, HardState, SnapshotMeta } from '../../raft/types.js';
import { check, del, lastIndexOf, put, termAt, type GroupLog } from './group-log.js';
import type { KvOp } from './kv.js';
import { entryKey, entryPayload, hardStateKey, logStartKey, snapshotMetaKey } from './records.js';

/** What one Ready asks to persist, in one durable write (src/raft/types.ts `Ready`). */
export interface PersistRequest {
  group?: GroupId;
  /** A snapshot received from the leader: the log is replaced (MemoryStorage.applySnapshot). */
  snapshotMeta?: SnapshotMeta | null;
  /** Appended; an entry whose index is ≤ the last index replaces that suffix. */
  entries?: readonly Entry[];
  hardState?: HardState | null;
  /**
   * false: written without fsync (only a commit index moved, which a quorum can tell again); it
   * becomes durable with the next synced write. Default true.
   */
  sync?: boolean;
}

const ENTRY_TYPES = new Set<number>(Object.values(EntryType));

export interface PersistPlan {
  ops: KvOp[];
  firstIndex: number;
  prevTerm: number;
  /** The snapshot replaced the whole log. */
  discard: boolean;
  /** Index of the first appended entry. */
  appendFrom: number;
  hardState: HardState;
  snapshotMeta: SnapshotMeta | null;
  /** Entry keys below the new log start remain: delete them after the write. */
  garbage: boolean;
}

/** Validates a request against the group's state and lists its operations; mutates nothing. */
export function planPersist(g: GroupLog, request: PersistRequest): PersistPlan {
  const ops: KvOp[] = [];
  let firstIndex = g.firstIndex;
  let prevTerm = g.prevTerm;
  let lastIndex = lastIndexOf(g);
  let commitFloor = g.hardState.commit;
  let snapshotMeta = g.snapshotMeta;
  const meta = request.snapshotMeta ?? null;
  if (meta !== null) {
    check(meta.group === g.group, `snapshot of group ${meta.group} persisted in group ${g.group}`);
    check(meta.index >= (g.snapshotMeta?.index ?? 0), `snapshot ${meta.index} older than the stored one`);
    check(meta.index >= g.firstIndex - 1, `snapshot ${meta.index} below the log start ${g.firstIndex}`);
    check(meta.term >= 1 || meta.index === 0, `snapshot ${meta.index} without a term`);
    // The log is replaced: keys above the snapshot go now (recovery would read them), those below later.
    for (let i = Math.max(firstIndex, meta.index + 1); i <= lastIndex; i++) ops.push(del(entryKey(g.group, i)));
    firstIndex = meta.index + 1;
    prevTerm = meta.term;
    lastIndex = meta.index;
    commitFloor = asLogIndex(Math.max(commitFloor, meta.index));
    snapshotMeta = meta;
    ops.push(put(snapshotMetaKey(g.group), meta), put(logStartKey(g.group), { firstIndex, prevTerm }));
  }
  const entries = request.entries ?? [];
  let appendFrom = lastIndex + 1;
  const first = entries[0];
  if (first !== undefined) {
    check(first.index >= firstIndex && first.index <= lastIndex + 1, entriesRange(first.index, firstIndex, lastIndex));
    let before = first.index === firstIndex ? prevTerm : termAt(g, first.index - 1);
    for (const [k, entry] of entries.entries()) {
      check(entry.index === first.index + k, `entries not contiguous at ${entry.index}`);
      check(entry.data instanceof Uint8Array && ENTRY_TYPES.has(entry.type), `entry ${entry.index} is malformed`);
      check(before !== undefined && entry.term >= before && entry.term >= 1, `entry ${entry.index} term goes back`);
      if (meta === null && entry.index <= g.hardState.commit) {
        check(termAt(g, entry.index) === entry.term, `entry ${entry.index} would overwrite a committed entry`);
      }
      before = entry.term;
    }
    const newLast = first.index + entries.length - 1;
    for (let i = newLast + 1; i <= lastIndex; i++) ops.push(del(entryKey(g.group, i)));
    for (const entry of entries) ops.push(put(entryKey(g.group, entry.index), entryPayload(entry)));
    appendFrom = first.index;
    lastIndex = newLast;
  }
  let hardState = g.hardState;
  let hardChanged = false;
  const next = request.hardState ?? null;
  if (next !== null) {
    check(next.term >= hardState.term, `term goes back ${hardState.term} -> ${next.term}`);
    const sameTermVoted = next.term === hardState.term && hardState.vote !== null;
    check(!sameTermVoted || next.vote === hardState.vote, `vote changes within term ${next.term}`);
    check(next.commit >= hardState.commit, `commit goes back ${hardState.commit} -> ${next.commit}`);
    hardState = { term: next.term, vote: next.vote, commit: next.commit };
    if (next.recovery !== undefined) hardState.recovery = { index: next.recovery.index, term: next.recovery.term };
    hardChanged = true;
  }
  if (hardState.commit < commitFloor) {
    hardState = Object.assign({}, hardState, { commit: commitFloor });
    hardChanged = true;
  }
  const covered = Math.max(lastIndex, snapshotMeta?.index ?? 0);
  check(hardState.commit <= covered, `commit ${hardState.commit} beyond the last index ${covered}`);
  if (hardChanged) ops.push(put(hardStateKey(g.group), hardState));
  const garbage = meta !== null && g.firstIndex <= Math.min(meta.index, lastIndexOf(g));
  return { ops, firstIndex, prevTerm, discard: meta !== null, appendFrom, hardState, snapshotMeta, garbage };
}

function entriesRange(index: number, firstIndex: number, lastIndex: number): string {
  return `entries start at ${index}, outside [${firstIndex}, ${lastIndex + 1}]`;
}

export function applyPlan(g: GroupLog, plan: PersistPlan, entries: readonly Entry[]): void {
  if (plan.discard) g.terms = [];
  g.firstIndex = plan.firstIndex;
  g.prevTerm = plan.prevTerm;
  if (entries.length > 0) {
    g.terms.length = plan.appendFrom - g.firstIndex;
    for (const entry of entries) g.terms.push(entry.term);
  }
  g.hardState = plan.hardState;
  g.snapshotMeta = plan.snapshotMeta;
}
