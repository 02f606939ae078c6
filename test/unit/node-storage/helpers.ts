import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { DurableStore } from '../../../src/node/storage/durable-store.js';
import type { DurableStoreOptions } from '../../../src/node/storage/durable-store.js';
import { FaultLayer } from '../../../src/node/storage/fault-layer.js';
import type { FaultLayerOptions } from '../../../src/node/storage/fault-layer.js';
import { EntryType } from '../../../src/raft/types.js';
import type { Entry, Membership, SnapshotMeta } from '../../../src/raft/types.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';

const dirs: string[] = [];
const stores: DurableStore[] = [];

/** A fresh directory under os.tmpdir(), removed (with any store still open on it) after the test. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'raftq-storage-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** Opens a store on `dir` (closed after the test), optionally behind a fault layer. */
export async function openStore(
  dir: string,
  options: DurableStoreOptions & { faults?: FaultLayerOptions } = {},
): Promise<{ store: DurableStore; faults: FaultLayer }> {
  let faults: FaultLayer | undefined;
  const store = await DurableStore.open(dir, {
    clusterId: 'test-cluster',
    ...options,
    wrapKv: (kv) => (faults = new FaultLayer(kv, options.faults)),
  });
  stores.push(store);
  if (faults === undefined) throw new Error('fault layer not installed');
  return { store, faults };
}

export function entry(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index: asLogIndex(index), term: asTerm(term), type: EntryType.Normal, data: new TextEncoder().encode(text) };
}

export function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

export const membership: Membership = {
  members: [
    { id: 'n1', storageId: 's1', address: '127.0.0.1:7001', role: 'voter' },
    { id: 'n2', storageId: 's2', address: '127.0.0.1:7002', role: 'voter' },
  ],
};

export function snapshotMeta(index: number, term: number): SnapshotMeta {
  return { group: 0, index: asLogIndex(index), term: asTerm(term), membership };
}

/** Waits for `condition` to hold, yielding to the event loop between checks; fails after timeoutMs. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
