// Random Raft-shaped write sequences (appends that truncate, commits, term changes, local snapshots
// with compaction, installed snapshots) with reopens in between: what recovery rebuilds always
// equals the in-memory mirror of what was acknowledged before the close, and a power cut during a
// write leaves exactly the state before it.
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { cp } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FaultLayer } from '../../../src/node/storage/fault-layer.js';
import { NodeStorage } from '../../../src/node/storage/node-storage.js';
import type { MemoryStorage } from '../../../src/raft/storage.js';
import type { Entry } from '../../../src/raft/types.js';
import { entry, membership, snapshotMeta, tempDir } from './helpers.js';

type Step = {
  kind: 'append' | 'commit' | 'snapshot' | 'install' | 'reopen' | 'crash';
  a: number;
  b: number;
  c: boolean;
};

const step: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom('append', 'append', 'append', 'commit', 'snapshot', 'install', 'reopen', 'crash'),
  a: fc.nat({ max: 1000 }),
  b: fc.nat({ max: 1000 }),
  c: fc.boolean(),
});

/** The comparable view: everything above the snapshot (a reopened mirror starts right after it). */
function view(mirror: MemoryStorage) {
  const snapshot = mirror.snapshot();
  const from = Math.max(mirror.firstIndex(), (snapshot?.meta.index ?? 0) + 1);
  const last = mirror.lastIndex();
  const entries: Entry[] = from <= last ? mirror.entries(from, last + 1, Number.MAX_SAFE_INTEGER) : [];
  // The snapshot as plain meta and bytes: the mirror keeps a file-backed one (its bytes read on demand).
  const snap = snapshot === null ? null : { meta: snapshot.meta, data: snapshot.data };
  return {
    hardState: mirror.initialState().hardState,
    last,
    entries,
    snapshot: snap,
    termBefore: mirror.term(from - 1),
  };
}

/** Turns a random step into a request that keeps the Raft contract for the current state. */
async function apply(storage: NodeStorage, s: Step): Promise<void> {
  const m = storage.mirror;
  const hs = m.initialState().hardState;
  const [first, last] = [m.firstIndex(), m.lastIndex()];
  if (s.kind === 'append') {
    const lo = Math.max(first, hs.commit + 1);
    const from = lo + (s.a % (last + 2 - lo));
    const term = Math.max(hs.term, m.term(from - 1) ?? 0) + (s.c ? 1 : 0) || 1;
    const entries = Array.from({ length: 1 + (s.b % 4) }, (_, k) => entry(from + k, term, `${s.a}/${k}`));
    const hardState = term > hs.term ? { term: asTerm(term), vote: s.c ? 'n2' : null, commit: hs.commit } : null;
    await storage.persistReady({ hardState, entries, snapshot: null });
  } else if (s.kind === 'commit') {
    const commit = hs.commit + (s.a % (last - hs.commit + 1));
    await storage.persistReady({ hardState: { ...hs, commit: asLogIndex(commit) }, entries: [], snapshot: null });
  } else if (s.kind === 'snapshot') {
    const base = m.snapshot()?.meta.index ?? 0;
    if (hs.commit <= base || hs.commit < first) return;
    const index = Math.max(base + 1, first, hs.commit - (s.a % 3));
    const term = m.term(index) ?? 0;
    const compactTo = Math.max(first - 1, index - (s.b % 3));
    const data = new TextEncoder().encode(`state@${index}`);
    await storage.createSnapshot({ meta: snapshotMeta(index, term), data }, { compactTo: asLogIndex(compactTo) });
  } else if (s.kind === 'install') {
    // Anywhere above the commit index: inside the uncommitted tail (replacing it) or beyond the log.
    const index = Math.max(hs.commit, first - 1) + 1 + (s.a % 6);
    const term = hs.term + 1;
    const data = new TextEncoder().encode(`leader@${index}`);
    const hardState = { term: asTerm(term), vote: null, commit: asLogIndex(index) };
    await storage.persistReady({ hardState, entries: [], snapshot: { meta: snapshotMeta(index, term), data } });
  }
}

/** The view after the append `s` succeeds, on a copy of the (idle) data dir. */
async function viewAfterAppend(dir: string, s: Step): Promise<ReturnType<typeof view>> {
  const copy = await tempDir();
  await cp(dir, copy, { recursive: true });
  const storage = await NodeStorage.open(copy, { clusterId: 'c', initialMembership: membership });
  try {
    await apply(storage, { ...s, kind: 'append' });
    return view(storage.mirror);
  } finally {
    await storage.close();
  }
}

/**
 * Cuts the power while an append is in its fsync: it was never acknowledged, so it vanishes, or
 * (a small one) survives whole through the promise record written beside it, which carries it.
 */
async function powerFailDuringAppend(storage: NodeStorage, faults: FaultLayer, s: Step): Promise<void> {
  faults.holdSyncs();
  const write = apply(storage, { ...s, kind: 'append' }).catch(() => 'lost');
  await faults.waitForHeld(1);
  await faults.powerLoss();
  expect(await write).toBe('lost');
}

/** The property, over random write sequences. */
function property() {
  return fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 25 }), async (steps) => {
    const dir = await tempDir();
    let faults: FaultLayer | undefined;
    const open = () =>
      NodeStorage.open(dir, {
        clusterId: 'c',
        initialMembership: membership,
        wrapKv: (kv) => (faults = new FaultLayer(kv)),
      });
    let storage = await open();
    try {
      for (const s of [...steps, { kind: 'reopen', a: 0, b: 0, c: false } as const]) {
        if (s.kind !== 'reopen' && s.kind !== 'crash') {
          await apply(storage, s);
          continue;
        }
        const before = view(storage.mirror);
        const after = s.kind === 'crash' ? await viewAfterAppend(dir, s) : before;
        if (s.kind === 'crash') await powerFailDuringAppend(storage, faults!, s);
        await storage.close();
        storage = await open();
        if (s.kind === 'reopen') expect(storage.recovered.truncated).toBeNull();
        expect(storage.recovered.lost).toBeNull();
        expect([before, after]).toContainEqual(view(storage.mirror));
      }
    } finally {
      await storage.close();
    }
  });
}

describe('node-storage - model property', () => {
  // Each crash step copies the data dir and opens the copy (its "after" view): slow when the whole
  // suite's fsyncs share the disk (one run went past 60 s), ~1.5 s alone.
  it('recovery rebuilds exactly what was acknowledged, across random writes and reopens', async () => {
    await fc.assert(property(), { numRuns: 20 });
  }, 180_000);
});
