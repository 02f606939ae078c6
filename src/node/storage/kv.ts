// The narrow key-value port the durable store writes through: LevelDB in production, wrapped by
// the fault layer in tests. Keys and values are raw bytes; the store does its own encoding.
import { Level } from 'level';
import { assert } from '../../protocol/assert.js';
import { CorruptionError, describe } from './errors.js';

export type KvOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

export interface KvRange {
  gte: Uint8Array;
  lt: Uint8Array;
  /** At most this many pairs, in ascending key order. */
  limit: number;
}

export interface KvStore {
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /** Applies `ops` atomically, in order. With `sync`, resolves only once they are on stable storage. */
  batch(ops: readonly KvOp[], options: { sync: boolean }): Promise<void>;
  range(range: KvRange): Promise<Array<[Uint8Array, Uint8Array]>>;
  close(): Promise<void>;
}

export class LevelKv implements KvStore {
  private constructor(private readonly db: Level<Uint8Array, Uint8Array>) {}

  static async open(location: string, options: { createIfMissing: boolean }): Promise<LevelKv> {
    const db = new Level<Uint8Array, Uint8Array>(location, {
      keyEncoding: 'view',
      valueEncoding: 'view',
      createIfMissing: options.createIfMissing,
    });
    await db.open();
    return new LevelKv(db);
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.db.get(key).catch(rethrowCorruption);
  }

  batch(ops: readonly KvOp[], options: { sync: boolean }): Promise<void> {
    // abstract-level's public batch() clones, checks and re-encodes every operation: ~30 µs of the main
    // thread per write of 2-3 puts, about a tenth of a node's CPU per write (bench/RESULTS.md, session
    // 28). Ours are bytes already: an open database gets them through its implementation's _batch, the
    // same atomic WriteBatch with the same sync option. LevelDB's binding skips an operation without a
    // key or value instead of failing, so every one is checked here first (a bug crashes, never drops
    // a write). Not open (or empty): the public call, with its typed refusal.
    if (ops.length === 0 || this.db.status !== 'open') return this.db.batch(ops as KvOp[], { sync: options.sync });
    for (const op of ops) checkOp(op);
    return (this.db as unknown as PrivateBatch)._batch(ops, { sync: options.sync });
  }

  range(range: KvRange): Promise<Array<[Uint8Array, Uint8Array]>> {
    return this.db.iterator({ gte: range.gte, lt: range.lt, limit: range.limit }).all().catch(rethrowCorruption);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/** classic-level's implementation of a batch (abstract-level's private API; not in its types). */
interface PrivateBatch {
  _batch(ops: readonly KvOp[], options: { sync: boolean }): Promise<void>;
}

function checkOp(op: KvOp): void {
  assert(op.key instanceof Uint8Array, 'kv batch: an operation without a byte key');
  if (op.type === 'put') assert(op.value instanceof Uint8Array, 'kv batch: a put without a byte value');
  else assert(op.type === 'del', 'kv batch: an operation neither put nor del');
}

/** LevelDB's own corruption reports (e.g. a damaged table block) become our typed CorruptionError. */
function rethrowCorruption(error: unknown): never {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'LEVEL_CORRUPTION') throw new CorruptionError(`LevelDB reports corruption: ${describe(error)}`);
  throw error;
}
