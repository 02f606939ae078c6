/*
 * Storage fault layer, for tests only (docs/faults.md F6–F8): a KvStore wrapper the test harness installs
 * through DurableStore.open(dir, { wrapKv }). It is never constructed on the production path.
 *
 * Power-loss model. A batch written with `sync: false` reaches LevelDB at once (so reads and a plain
 * kill -9 see it, as with the OS page cache), but the layer remembers how to undo it. A `sync: true`
 * batch makes everything before it durable (LevelDB's log is sequential). powerLoss() rolls back
 * every unsynced batch, drops any synced batch whose fsync had not completed, and refuses every
 * later write: what is left on disk is exactly what a power cut would leave. Then kill the process
 * (or close the store) and reopen.
 *
 * `dropSync: true` turns every `sync: true` into `sync: false`: the store's group commit then
 * behaves as if it omitted `sync: true`, and a power-loss test must catch the loss.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GroupId } from '../../raft/types.js';
import { LevelKv } from './kv.js';
import type { KvOp, KvRange, KvStore } from './kv.js';
import { asHardState, decodeRecord, entryIndexOf, entryKey, entryKeyEnd, hardStateKey } from './records.js';

export interface FaultLayerOptions {
  dropSync?: boolean;
}

/** The error a "failed fsync" rejects with, shaped like Node's I/O errors. */
export class InjectedIoError extends Error {
  readonly code = 'EIO';
  constructor(what: string) {
    super(`EIO: injected ${what} failure`);
    this.name = 'InjectedIoError';
  }
}

export class PowerLossError extends Error {
  constructor() {
    super('storage is powered off (simulated power loss)');
    this.name = 'PowerLossError';
  }
}

type Undo = Array<{ key: Uint8Array; previous: Uint8Array | undefined }>;

export interface BatchRecord {
  ops: number;
  /** The sync flag the caller asked for. */
  requestedSync: boolean;
  /** What reached LevelDB (false in dropSync mode). */
  synced: boolean;
}

export class FaultLayer implements KvStore {
  /** Every batch that reached LevelDB, in order. */
  readonly batches: BatchRecord[] = [];
  dropSync: boolean;
  syncDelayMs = 0;
  private unsynced: Undo[] = [];
  private chain: Promise<void> = Promise.resolve();
  private poweredOff = false;
  private failSyncs: { count: number; applied: boolean } = { count: 0, applied: false };
  /** The current hold; `held` counts the synced batches waiting at it. */
  private gate: { promise: Promise<void>; release: () => void; held: number } | null = null;
  private heldWaiters: Array<() => void> = [];

  constructor(
    private readonly inner: KvStore,
    options: FaultLayerOptions = {},
  ) {
    this.dropSync = options.dropSync ?? false;
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.inner.get(key);
  }

  range(range: KvRange): Promise<Array<[Uint8Array, Uint8Array]>> {
    return this.inner.range(range);
  }

  batch(ops: readonly KvOp[], options: { sync: boolean }): Promise<void> {
    const sync = options.sync && !this.dropSync;
    const run = async (): Promise<void> => {
      if (this.poweredOff) throw new PowerLossError();
      if (sync) await this.syncedBatch(ops);
      else await this.unsyncedBatch(ops);
      this.batches.push({ ops: ops.length, requestedSync: options.sync, synced: sync });
    };
    // Batches are applied one at a time, in call order, like LevelDB's single writer.
    const result = this.chain.then(run);
    this.chain = result.catch(() => undefined);
    return result;
  }

  close(): Promise<void> {
    return this.chain.then(() => this.inner.close());
  }

  // ---- fault controls ----

  /** The next `count` synced batches fail with EIO; with `applied`, their data reached LevelDB anyway. */
  failNextSyncs(count = 1, options: { applied?: boolean } = {}): void {
    this.failSyncs = { count, applied: options.applied ?? false };
  }

  /** Synced batches wait (as in a stalled fsync) until release(). */
  holdSyncs(): { release: () => void } {
    if (this.gate === null) {
      let release!: () => void;
      const promise = new Promise<void>((resolve) => (release = resolve));
      this.gate = {
        promise,
        release: () => {
          if (this.gate?.promise === promise) this.gate = null;
          release();
        },
        held: 0,
      };
    }
    return { release: this.gate.release };
  }

  /** Resolves once `count` synced batches are waiting at the hold (rejects after timeoutMs). */
  async waitForHeld(count: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.heldCount < count) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for ${count} held syncs (have ${this.heldCount})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.heldWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Flips bits of a stored value in place (durably), below the store's checksums. */
  async corrupt(key: Uint8Array, options: { byteOffset?: number; mask?: number } = {}): Promise<void> {
    const value = await this.inner.get(key);
    if (value === undefined) throw new Error('corrupt(): no record under that key');
    const damaged = Uint8Array.from(value);
    const offset = options.byteOffset ?? damaged.length - 1;
    if (offset < 0 || offset >= damaged.length) throw new RangeError(`byte offset ${offset} outside the record`);
    damaged[offset] = damaged[offset]! ^ (options.mask ?? 0x01);
    await this.inner.batch([{ type: 'put', key, value: damaged }], { sync: true });
  }

  /**
   * Simulated power cut: unsynced batches are rolled back (newest first), a synced batch whose
   * fsync is still in progress is lost, and every later write fails with PowerLossError.
   */
  async powerLoss(): Promise<{ rolledBack: number }> {
    this.poweredOff = true;
    this.gate?.release();
    await this.chain;
    const undo = this.unsynced.reverse();
    this.unsynced = [];
    for (const batch of undo) {
      const ops: KvOp[] = batch.map(({ key, previous }) =>
        previous === undefined ? { type: 'del', key } : { type: 'put', key, value: previous },
      );
      await this.inner.batch(ops, { sync: true });
    }
    return { rolledBack: undo.length };
  }

  /** Synced batches currently waiting at holdSyncs(). */
  get heldCount(): number {
    return this.gate?.held ?? 0;
  }

  get isPoweredOff(): boolean {
    return this.poweredOff;
  }

  // ---- internals ----

  private async syncedBatch(ops: readonly KvOp[]): Promise<void> {
    if (this.gate !== null) {
      this.gate.held++;
      for (const wake of this.heldWaiters.splice(0)) wake();
      await this.gate.promise;
    }
    if (this.syncDelayMs > 0) await sleep(this.syncDelayMs);
    // Power went out while this fsync was pending: it never completed, so nothing of it is kept.
    if (this.poweredOff) throw new PowerLossError();
    if (this.failSyncs.count > 0) {
      this.failSyncs.count--;
      if (this.failSyncs.applied) await this.unsyncedBatch(ops);
      throw new InjectedIoError('fsync');
    }
    await this.inner.batch(ops, { sync: true });
    this.unsynced = [];
  }

  private async unsyncedBatch(ops: readonly KvOp[]): Promise<void> {
    const undo: Undo = [];
    const seen = new Set<string>();
    for (const op of ops) {
      const id = Buffer.from(op.key).toString('hex');
      if (seen.has(id)) continue; // the first previous value is the one to restore
      seen.add(id);
      undo.push({ key: op.key, previous: await this.inner.get(op.key) });
    }
    await this.inner.batch(ops, { sync: false });
    this.unsynced.push(undo);
  }
}

/** Environment switch for real node processes under the jepsen-like suite (never set in production). */
export const DISK_FAULT_ENV = 'RAFTQ_TEST_DISK_FAULT_MODE';

const armed = new Set<FaultLayer>();
let signalInstalled = false;

/**
 * With RAFTQ_TEST_DISK_FAULT_MODE set (=drop-sync: also drop every sync flag), returns a wrapKv that
 * puts a FaultLayer under the store and arms SIGUSR2 as "power cut": every layer of this process
 * loses its unsynced writes, then the process kills itself with SIGKILL. Otherwise undefined.
 */
export function faultLayerFromEnv(env: NodeJS.ProcessEnv = process.env): ((kv: KvStore) => FaultLayer) | undefined {
  const mode = env[DISK_FAULT_ENV];
  if (mode === undefined || mode === '') return undefined;
  if (!signalInstalled) {
    signalInstalled = true;
    process.on('SIGUSR2', () => {
      void Promise.allSettled([...armed].map((layer) => layer.powerLoss())).finally(() =>
        process.kill(process.pid, 'SIGKILL'),
      );
    });
  }
  return (kv) => {
    const layer = new FaultLayer(kv, { dropSync: mode === 'drop-sync' });
    armed.add(layer);
    return layer;
  };
}

/**
 * For the jepsen-like harness, on a STOPPED node's data dir: flips one bit in a log entry record,
 * below the store's checksums. `tail` picks the last entry and requires it to lie beyond the
 * persisted commit index (recovery must truncate it); `committed` picks the commit index itself
 * (recovery must refuse to start). Returns what it damaged, or throws if no such entry exists.
 */
export async function corruptEntryInDataDir(
  dataDir: string,
  target: 'tail' | 'committed' | { index: number },
  options: { group?: GroupId } = {},
): Promise<{ index: number; commit: number; lastIndex: number }> {
  const group = options.group ?? 0;
  const kv = await LevelKv.open(join(dataDir, 'db'), { createIfMissing: false });
  try {
    const raw = await kv.get(hardStateKey(group));
    const decoded = raw === undefined ? null : decodeRecord(hardStateKey(group), raw);
    const hardState = decoded?.ok === true ? asHardState(decoded.payload) : null;
    const commit = hardState?.commit ?? 0;
    const lastIndex = await lastEntryIndex(kv, group);
    let index: number;
    if (target === 'tail') index = lastIndex;
    else if (target === 'committed') index = commit;
    else index = target.index;
    if (target === 'tail' && lastIndex <= commit) {
      throw new Error(`no uncommitted tail in ${dataDir}: last index ${lastIndex}, commit ${commit}`);
    }
    const layer = new FaultLayer(kv);
    await layer.corrupt(entryKey(group, index), { byteOffset: 8 });
    return { index, commit, lastIndex };
  } finally {
    await kv.close();
  }
}

async function lastEntryIndex(kv: KvStore, group: GroupId): Promise<number> {
  let last = 0;
  for (let round = 0; round < 10_000_000; round++) {
    const page = await kv.range({ gte: entryKey(group, last + 1), lt: entryKeyEnd(group), limit: 4096 });
    const key = page[page.length - 1]?.[0];
    if (key === undefined) return last;
    last = entryIndexOf(group, key) ?? last;
  }
  return last;
}
