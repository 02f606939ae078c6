// A group's log as the durable store tracks it (indexes, terms, hard state, snapshot meta), the
// contract check its callers get, and the record operations every part of the store writes.
import type { GroupId, HardState, SnapshotMeta } from '../../raft/types.js';
import type { KvOp } from './kv.js';
import type { GroupPromise } from './promise-file.js';
import { encodeRecord } from './records.js';

/** What the store knows of a group's durable (or queued) state; the terms serve the checks. */
export interface GroupLog {
  group: GroupId;
  firstIndex: number;
  prevTerm: number;
  /** terms[k] is the term of entry firstIndex + k. */
  terms: number[];
  hardState: HardState;
  snapshotMeta: SnapshotMeta | null;
  /** Entry keys in [garbageFrom, firstIndex) may still exist on disk. */
  garbageFrom: number;
  collecting: Promise<number> | null;
}

/** A broken caller contract (a Raft or driver bug): nothing was written, the store stays usable. */
export class StoreContractError extends Error {
  constructor(message: string) {
    super(`durable store: ${message}`);
    this.name = 'StoreContractError';
  }
}

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new StoreContractError(message);
}

export const put = (key: Uint8Array, payload: unknown): KvOp => ({
  type: 'put',
  key,
  value: encodeRecord(key, payload),
});
export const del = (key: Uint8Array): KvOp => ({ type: 'del', key });
export const lastIndexOf = (g: GroupLog): number => g.firstIndex + g.terms.length - 1;

export function termAt(g: GroupLog, index: number): number | undefined {
  if (index === g.firstIndex - 1) return g.prevTerm;
  if (index < g.firstIndex) return undefined;
  return g.terms[index - g.firstIndex];
}

/** The term of the last entry (of the log, else of the snapshot, else 0). */
export function lastTermOf(g: GroupLog): number {
  const snapshotIndex = g.snapshotMeta?.index ?? 0;
  const last = lastIndexOf(g);
  if (snapshotIndex > last) return g.snapshotMeta?.term ?? 0;
  return termAt(g, last) ?? 0;
}

export function promiseOf(g: GroupLog): GroupPromise {
  const hs = g.hardState;
  const lastIndex = Math.max(lastIndexOf(g), g.snapshotMeta?.index ?? 0);
  const lastTerm = lastTermOf(g);
  return { term: hs.term, vote: hs.vote, lastIndex, lastTerm, ...(hs.recovery ? { recovery: hs.recovery } : {}) };
}

export function samePromise(a: GroupPromise | undefined, b: GroupPromise): boolean {
  return (
    a !== undefined &&
    a.term === b.term &&
    a.vote === b.vote &&
    a.lastIndex === b.lastIndex &&
    a.lastTerm === b.lastTerm &&
    a.recovery?.index === b.recovery?.index &&
    a.recovery?.term === b.recovery?.term
  );
}
