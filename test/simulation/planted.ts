// Known bugs, planted through the core's `faults` switches (RaftConfig.faults; production sets none).
// The simulation must catch each one on fixed default seeds.

import type { RaftFaults } from '../../src/raft/config.js';

export const plantedBugs: Record<string, RaftFaults> = {
  /** Counts replicas of entries from earlier terms to commit them: the Raft paper's Figure 8 bug. */
  'old-term-commit': { commitOldTerms: true },
  /**
   * Answers a vote before it is durable: the vote and the new term go out in the same Ready but are
   * not fsynced first (mustSync is false for them), so a crash after the answer forgets the vote.
   */
  'vote-before-persist': { voteBeforePersist: true },
  /** Keeps using a configuration whose entry was truncated away. */
  'no-config-revert': { keepTruncatedConfig: true },
  /** Pipelined writes: entries that replace an in-flight suffix are never handed out to be written. */
  'truncate-under-write': { keepInProgressOnTruncate: true },
  /** Entries apply once handed out for writing, committed or not (a later leader may replace them). */
  'apply-uncommitted': { applyUncommitted: true },
};

/** A crash-heavy profile under which the Figure 8 bug loses committed entries (see find-figure8.ts). */
export const figure8Profile = {
  leaderCrashChance: 0.3,
  crashes: 6,
  partitions: 4,
  checkCommitRule: false,
} as const;
