// Cores with known bugs planted by subclassing (the production core has no switch for them). The
// simulation must catch each one on fixed default seeds.

import { RaftNode } from '../../src/raft/node.js';
import type { Entry, HardState, Snapshot } from '../../src/raft/types.js';
import type { CoreFactory } from './sim.js';

/** Counts replicas of entries from earlier terms to commit them: the Raft paper's Figure 8 bug. */
export class OldTermCommitCore extends RaftNode {
  protected override maybeCommit(): boolean {
    const index = this.quorumMatchIndex();
    if (index <= this.commitIndex) return false;
    this.commitTo(index);
    return true;
  }
}

/**
 * Answers a vote before it is durable: the vote and the new term go out in the same Ready but are not
 * fsynced first (mustSync is false for them), so a crash after the answer forgets the vote.
 */
export class VoteBeforePersistCore extends RaftNode {
  protected override readyMustSync(
    _prev: HardState,
    _hs: HardState | null,
    entries: readonly Entry[],
    snapshot: Snapshot | null,
  ): boolean {
    return entries.length > 0 || snapshot !== null;
  }
}

/** Keeps using a configuration whose entry was truncated away. */
export class NoConfigRevertCore extends RaftNode {
  protected override revertConfigsFrom(_index: number): void {}
}

export const plantedBugs: Record<string, CoreFactory> = {
  'old-term-commit': (cfg, storage, rng) => new OldTermCommitCore(cfg, storage, rng),
  'vote-before-persist': (cfg, storage, rng) => new VoteBeforePersistCore(cfg, storage, rng),
  'no-config-revert': (cfg, storage, rng) => new NoConfigRevertCore(cfg, storage, rng),
};

/** A crash-heavy profile under which the Figure 8 bug loses committed entries (see find-figure8.ts). */
export const figure8Profile = {
  leaderCrashChance: 0.3,
  crashes: 6,
  partitions: 4,
  checkCommitRule: false,
} as const;
