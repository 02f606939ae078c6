// A batch carried in the promise file (promise-file.ts `batch`): written beside its LevelDB batch, so
// a crash may leave the file holding a batch LevelDB never got (a torn final write) or lost (a synced
// tail gone). Either way the batch is here, checksummed, with the unsynced (commit-only) batches
// written since the last synced one: recovery replays them when LevelDB holds at least that synced
// batch but not the carried one. Further behind is a loss no carried batch repairs (the store's
// promise check). Replaying operations LevelDB already holds is harmless: they are whole values, in order.
import type { KvOp, KvStore } from './kv.js';
import type { CarriedOp, PromiseRecord } from './promise-file.js';
import { PROMISE_SEQ_KEY, asPromiseSeq, decodeRecord } from './records.js';

export function carry(ops: readonly KvOp[]): CarriedOp[] {
  return ops.map((op) => [op.key, op.type === 'put' ? op.value : null]);
}

/** The lowest and highest batch stamps among the carried operations, or null if none is readable. */
export function stampsOf(batch: readonly CarriedOp[]): { first: number; last: number } | null {
  let first = Infinity;
  let last = -Infinity;
  for (const [key, value] of batch) {
    if (value === null || !Buffer.from(key.buffer, key.byteOffset, key.byteLength).equals(PROMISE_SEQ_KEY)) continue;
    const decoded = decodeRecord(PROMISE_SEQ_KEY, value);
    const seq = decoded.ok ? asPromiseSeq(decoded.payload) : null;
    if (seq === null) return null;
    first = Math.min(first, seq);
    last = Math.max(last, seq);
  }
  return first === Infinity ? null : { first, last };
}

/**
 * Replays the record's carried operations into LevelDB, durably, if LevelDB's stamp lies between the
 * synced batch before them and the carried batch; returns LevelDB's stamp after.
 */
export async function replayCarried(kv: KvStore, record: PromiseRecord, storedSeq: number): Promise<number> {
  if (record.batch === undefined || storedSeq >= record.seq) return storedSeq;
  const stamps = stampsOf(record.batch);
  if (stamps === null || stamps.last < record.seq) return storedSeq;
  if (storedSeq < stamps.first - 1 || storedSeq >= stamps.last) return storedSeq;
  const ops: KvOp[] = record.batch.map(([key, value]) =>
    value === null ? { type: 'del', key } : { type: 'put', key, value },
  );
  await kv.batch(ops, { sync: true });
  return stamps.last;
}
