// The persist plan as pure functions: the operations one Ready's write becomes, the in-memory view
// after it, and the caller contract it refuses (nothing planned, the group unchanged).
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { describe, expect, it } from 'vitest';
import { StoreContractError, type GroupLog } from '../../../src/node/storage/group-log.js';
import { applyPlan, planPersist } from '../../../src/node/storage/persist-plan.js';
import { entryKey, hardStateKey, logStartKey, snapshotMetaKey } from '../../../src/node/storage/records.js';
import type { KvOp } from '../../../src/node/storage/kv.js';
import { entries, entry, snapshotMeta } from './helpers.js';

/** A group holding entries firstIndex..firstIndex+terms.length-1. */
function group(firstIndex: number, terms: number[], commit = 0, term = 1): GroupLog {
  return {
    group: 0,
    firstIndex,
    prevTerm: 0,
    terms,
    hardState: { term: asTerm(term), vote: null, commit: asLogIndex(commit) },
    snapshotMeta: null,
    garbageFrom: 0,
    collecting: null,
  };
}

const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex');
const puts = (ops: KvOp[]): string[] => ops.filter((o) => o.type === 'put').map((o) => hex(o.key));
const dels = (ops: KvOp[]): string[] => ops.filter((o) => o.type === 'del').map((o) => hex(o.key));

describe('planPersist / applyPlan', () => {
  it('appends entries and the hard state in one plan', () => {
    const g = group(1, [1, 1]);
    const plan = planPersist(g, {
      entries: entries(3, 4, 2),
      hardState: { term: asTerm(2), vote: 'n1', commit: asLogIndex(2) },
    });
    expect(puts(plan.ops)).toEqual([hex(entryKey(0, 3)), hex(entryKey(0, 4)), hex(hardStateKey(0))]);
    expect(dels(plan.ops)).toEqual([]);
    expect(g.terms).toEqual([1, 1]); // planning mutates nothing
    applyPlan(g, plan, entries(3, 4, 2));
    expect(g.terms).toEqual([1, 1, 2, 2]);
    expect(g.hardState).toEqual({ term: 2, vote: 'n1', commit: 2 });
  });

  it('replaces a conflicting suffix: keys past the new last index are deleted', () => {
    const g = group(1, [1, 1, 1, 1]);
    const plan = planPersist(g, { entries: [entry(2, 2)] });
    expect(dels(plan.ops)).toEqual([hex(entryKey(0, 3)), hex(entryKey(0, 4))]);
    applyPlan(g, plan, [entry(2, 2)]);
    expect(g.terms).toEqual([1, 2]);
  });

  it('a snapshot replaces the log, raises the commit to it and leaves keys below for clean-up', () => {
    const g = group(1, [1, 1, 1, 1, 1]);
    const meta = snapshotMeta(3, 1);
    const plan = planPersist(g, { snapshotMeta: meta });
    expect(dels(plan.ops)).toEqual([hex(entryKey(0, 4)), hex(entryKey(0, 5))]);
    expect(puts(plan.ops)).toEqual(
      expect.arrayContaining([hex(snapshotMetaKey(0)), hex(logStartKey(0)), hex(hardStateKey(0))]),
    );
    expect(plan.garbage).toBe(true);
    applyPlan(g, plan, []);
    expect(g).toMatchObject({ firstIndex: 4, prevTerm: 1, terms: [], hardState: { commit: 3 } });
  });

  it('refuses a broken contract and changes nothing', () => {
    const g = group(1, [1, 2, 2], 2, 2);
    const before = structuredClone(g);
    const bad = [
      () => planPersist(g, { entries: [entry(6, 2)] }), // a gap
      () => planPersist(g, { entries: [entry(2, 3)] }), // overwrites committed entry 2
      () => planPersist(g, { entries: [entry(4, 1)] }), // term goes back
      () => planPersist(g, { hardState: { term: asTerm(1), vote: null, commit: asLogIndex(2) } }),
      () => planPersist(g, { hardState: { term: asTerm(2), vote: null, commit: asLogIndex(1) } }),
      () => planPersist(g, { hardState: { term: asTerm(2), vote: null, commit: asLogIndex(9) } }),
      () => planPersist(g, { snapshotMeta: { ...snapshotMeta(3, 2), group: 1 } }),
    ];
    for (const f of bad) expect(f).toThrow(StoreContractError);
    expect(g).toEqual(before);
  });
});
