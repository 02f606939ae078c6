import { describe, expect, it } from 'vitest';
import { makeRaftConfig } from '../../src/raft/config.js';
import { RaftNode } from '../../src/raft/node.js';
import { Rng } from '../../src/raft/rng.js';
import { MessageType } from '../../src/raft/types.js';
import type { Member } from '../../src/raft/types.js';
import { SimDisk } from './disk.js';
import { figure8Profile, plantedBugs } from './planted.js';
import { runSeed } from './sim.js';

// The simulation can fail: each planted bug (a `faults` switch of the core, see planted.ts) must be caught
// on fixed default seeds (the correct core passes these seeds in seeds.test.ts).
const SEEDS = Array.from({ length: 30 }, (_, k) => k + 1);

function caught(bug: string, nodes: number, kind: string): number[] {
  const hits: number[] = [];
  for (const seed of SEEDS) {
    const r = runSeed({ seed, nodes, faults: plantedBugs[bug] });
    if (r.violations.some((v) => v.includes(kind))) hits.push(seed);
    if (hits.length > 0) break; // one catch is the point; keep the suite fast
  }
  return hits;
}

describe('simulation - planted bugs are caught', () => {
  it('a core that counts old-term entries for commit (Figure 8)', () => {
    expect(caught('old-term-commit', 3, 'commit rule').length).toBeGreaterThan(0);
    expect(caught('old-term-commit', 5, 'commit rule').length).toBeGreaterThan(0);
  });

  it('Figure 8 for real: with the rule check off, the old-term commit loses a committed entry', () => {
    // Found by a find-figure8.ts-style search (first hit in seeds 1..20,000, under this profile); the correct
    // core passes them. Re-found after the candidate timeout change (session 36): seeds 11377 (serial) and
    // 544 (pipelined) no longer reached the scenario. The seeds depend on the simulator's random draws:
    // rerun the search when those change.
    // pipelineChance 0: the original seed was found before nodes pipelined their writes; this variant keeps
    // serial writes covered.
    const profile = { nodes: 3, ...figure8Profile, pipelineChance: 0 };
    for (const seed of [2368]) {
      const buggy = runSeed({ seed, ...profile, faults: plantedBugs['old-term-commit'] });
      expect(buggy.violations.join()).toMatch(/leader completeness/);
      expect(runSeed({ seed, ...profile }).violations).toEqual([]);
    }
    // And one with pipelined writes on (the default pipelineChance): seed 191, re-found (seeds 1..191) once
    // committed entries applied before the node's own write (session 38; it was 2368 too before that).
    const pipelined = { nodes: 3, ...figure8Profile };
    const buggy = runSeed({ seed: 191, ...pipelined, faults: plantedBugs['old-term-commit'] });
    expect(buggy.violations.join()).toMatch(/leader completeness/);
    expect(runSeed({ seed: 191, ...pipelined }).violations).toEqual([]);
  });

  it('a core that answers a vote before the vote is durable: the checker sees it on the wire', () => {
    // The checker sees a granted vote on the wire that the disk does not hold (a crash would forget it).
    expect(caught('vote-before-persist', 3, 'persistence').length).toBeGreaterThan(0);
    expect(caught('vote-before-persist', 5, 'persistence').length).toBeGreaterThan(0);
  });

  it('a core that forgets to revert a truncated membership change', () => {
    const hits = [...caught('no-config-revert', 3, 'config'), ...caught('no-config-revert', 5, 'config')];
    expect(hits.length).toBeGreaterThan(0);
  });

  it('a core that does not hand out entries replacing a suffix whose write is still in flight', () => {
    // Only nodes that pipeline their writes can hit it: their logs then disagree with the others'.
    const kinds = (nodes: number): string[] => {
      for (const seed of SEEDS) {
        const r = runSeed({ seed, nodes, faults: plantedBugs['truncate-under-write'] });
        if (r.violations.length > 0) return r.violations;
      }
      return [];
    };
    expect(kinds(3).join()).toMatch(/log matching|config|lost|persistence/);
    expect(kinds(5).join()).toMatch(/log matching|config|lost|persistence/);
  });

  it('a core that applies entries once written here, committed or not', () => {
    // Entries apply before they are durable here (committed is durable on a majority): only the commit
    // index keeps one a later leader replaces from being applied, and the replicas then diverge.
    expect(caught('apply-uncommitted', 3, 'state machine safety').length).toBeGreaterThan(0);
    expect(caught('apply-uncommitted', 5, 'state machine safety').length).toBeGreaterThan(0);
  });

  it('a core that answers a vote before the vote is durable: a crash forgets it and it votes twice', () => {
    const member = (id: string): Member => ({ id, storageId: `${id}-d0`, address: id, role: 'voter' });
    const membership = { members: [member('a'), member('b'), member('c')] };
    const disk = new SimDisk(membership);
    const boot = (): RaftNode => {
      const cfg = makeRaftConfig({ id: 'b', storageId: 'b-d0', group: 7, faults: plantedBugs['vote-before-persist'] });
      return new RaftNode(cfg, disk.durable.clone(), new Rng(1));
    };
    const vote = (node: RaftNode, from: string): boolean | undefined => {
      node.step({
        type: MessageType.Vote,
        group: 7,
        term: 2,
        from,
        fromStorage: `${from}-d0`,
        to: 'b',
        index: 0,
        logTerm: 0,
      });
      const rd = node.ready();
      if (rd.hardState !== null) disk.write({ hardState: rd.hardState }, rd.mustSync);
      node.advance();
      const resp = rd.messages.find((m) => m.type === MessageType.VoteResp);
      return resp === undefined ? undefined : resp.reject !== true;
    };
    expect(vote(boot(), 'a')).toBe(true); // granted to a in term 2 ... but only in the page cache
    expect(disk.crash(new Rng(3))).toBeGreaterThan(0);
    expect(vote(boot(), 'c')).toBe(true); // after the crash, granted again in term 2: two leaders possible
  });
});
