// Recovery reads: a group's header records and its log scan, stopping at the first damaged, missing
// or inconsistent record, and the rule for which damage a node may repair (a tail beyond the commit
// index) and which stops it (anything inside the committed prefix: docs/faults.md P11).
import { asLogIndex, asTerm } from '../../protocol/ids.js';
import type { Entry, GroupId, HardState, SnapshotMeta } from '../../raft/types.js';
import { CorruptionError } from './errors.js';
import type { KvStore } from './kv.js';
import {
  asEntry,
  asHardState,
  asLogStart,
  asSnapshotMeta,
  decodeRecord,
  entryIndexOf,
  entryKey,
  entryKeyEnd,
  hardStateKey,
  logStartKey,
  snapshotMetaKey,
} from './records.js';
import type { LogStartRecord } from './records.js';

const RANGE_PAGE = 1024;
export const ROUNDS_MAX = 10_000_000;

export interface LogScan {
  entries: Entry[];
  damage: { index: number; reason: string } | null;
}

async function readRecord<T>(
  kv: KvStore,
  dir: string,
  key: Uint8Array,
  as: (x: unknown) => T | null,
  what: string,
): Promise<T | null> {
  const value = await kv.get(key);
  if (value === undefined) return null;
  const decoded = decodeRecord(key, value);
  if (!decoded.ok) throw new CorruptionError(`${what} is damaged (${decoded.reason}) in ${dir}`);
  const record = as(decoded.payload);
  if (record === null) throw new CorruptionError(`${what} has an invalid shape in ${dir}`);
  return record;
}

/** The group's hard state, snapshot meta and log start marker (defaults for a new group). */
export async function readGroupHeader(
  kv: KvStore,
  dir: string,
  group: GroupId,
): Promise<{ hardState: HardState; snapshotMeta: SnapshotMeta | null; logStart: LogStartRecord }> {
  const what = (record: string): string => `${record} of group ${group}`;
  const hardState = (await readRecord(kv, dir, hardStateKey(group), asHardState, what('hard state'))) ?? {
    term: asTerm(0),
    vote: null,
    commit: asLogIndex(0),
  };
  const snapshotMeta = await readRecord(kv, dir, snapshotMetaKey(group), asSnapshotMeta, what('snapshot meta'));
  const logStart = (await readRecord(kv, dir, logStartKey(group), asLogStart, what('log start marker'))) ?? {
    firstIndex: 1,
    prevTerm: 0,
  };
  if (snapshotMeta !== null && snapshotMeta.group !== group) {
    throw new CorruptionError(`snapshot meta of group ${group} names group ${snapshotMeta.group}`);
  }
  const snapshotIndex = snapshotMeta?.index ?? 0;
  if (logStart.firstIndex - 1 > snapshotIndex) {
    throw new CorruptionError(
      `group ${group}: the log starts at ${logStart.firstIndex} but the snapshot covers only up to ${snapshotIndex}`,
      logStart.firstIndex - 1,
    );
  }
  return { hardState, snapshotMeta, logStart };
}

/** Reads the log from the marker on, stopping at the first damaged, missing or inconsistent record. */
export async function scanLog(kv: KvStore, group: GroupId, start: LogStartRecord): Promise<LogScan> {
  const entries: Entry[] = [];
  let prevTerm = start.prevTerm;
  for (let round = 0; round < ROUNDS_MAX; round++) {
    const expected = start.firstIndex + entries.length;
    const page = await kv.range({ gte: entryKey(group, expected), lt: entryKeyEnd(group), limit: RANGE_PAGE });
    for (const [key, value] of page) {
      const next = start.firstIndex + entries.length;
      const index = entryIndexOf(group, key);
      if (index !== next) return { entries, damage: { index: next, reason: `missing (next key is ${index})` } };
      const entry = readEntry(key, value, index, prevTerm);
      if (typeof entry === 'string') return { entries, damage: { index, reason: entry } };
      entries.push(entry);
      prevTerm = entry.term;
    }
    if (page.length < RANGE_PAGE) return { entries, damage: null };
  }
  throw new CorruptionError(`group ${group}: log scan did not end`);
}

/** Entries [lo, hi): at least one if any is there, then up to maxBytes of data and maxEntries entries. */
export interface EntryRange {
  lo: number;
  hi: number;
  maxBytes: number;
  maxEntries: number;
}

/**
 * Entries [lo, hi) as the log holds them now, in order, at least one (if any is there) and then up to
 * maxBytes of data; stops before the first missing or damaged record (a read-back of evicted data,
 * MemoryStorage.evict: what it cannot read is not put back, and the core may ask again).
 */
export async function readEntryRange(kv: KvStore, group: GroupId, range: EntryRange): Promise<Entry[]> {
  const { lo, hi } = range;
  const limit = Math.max(0, Math.min(hi - lo, range.maxEntries));
  if (limit === 0) return [];
  const page = await kv.range({ gte: entryKey(group, lo), lt: entryKey(group, hi), limit });
  const out: Entry[] = [];
  let bytes = 0;
  for (const [key, value] of page) {
    const index = lo + out.length;
    if (entryIndexOf(group, key) !== index) break;
    const entry = readEntry(key, value, index, 0);
    if (typeof entry === 'string') break;
    out.push(entry);
    bytes += entry.data.length;
    if (bytes >= range.maxBytes) break;
  }
  return out;
}

/** Damage at or below the commit index, or a missing committed entry, stops the node (docs/faults.md P11). */
export function checkRecoverable(
  group: GroupId,
  hardState: HardState,
  coveredIndex: number,
  damage: { index: number; reason: string } | null,
): void {
  const advice = 'this node must not vote or serve: restore it from a peer';
  if (damage !== null && damage.index <= hardState.commit) {
    throw new CorruptionError(
      `group ${group}: log entry ${damage.index} is damaged (${damage.reason}) inside the committed prefix ` +
        `(commit index ${hardState.commit}); ${advice}`,
      damage.index,
    );
  }
  if (hardState.commit > coveredIndex) {
    throw new CorruptionError(
      `group ${group}: committed entry ${coveredIndex + 1} is missing (commit index ${hardState.commit}, ` +
        `log ends at ${coveredIndex}); ${advice}`,
      coveredIndex + 1,
    );
  }
}

/** An entry record, or why it cannot be trusted. */
function readEntry(key: Uint8Array, value: Uint8Array, index: number, prevTerm: number): Entry | string {
  const decoded = decodeRecord(key, value);
  if (!decoded.ok) return decoded.reason;
  const entry = asEntry(decoded.payload);
  if (entry === null) return 'invalid entry shape';
  if (entry.index !== index) return `record holds entry ${entry.index}`;
  if (entry.term < 1 || entry.term < prevTerm) return `term ${entry.term} after term ${prevTerm}`;
  return entry;
}
