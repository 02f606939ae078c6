// The core's outputs between two Readys (see the Ready contract in types.ts): messages, read states,
// dropped proposals and reads, and proposals appended; plus the rule for when a Ready must be synced.

import type { LogIndex, Term } from '../protocol/ids.js';
import { MessageType } from './types.js';
import type { DroppedProposal, DroppedRead, Entry, HardState, Message, ReadState, Snapshot } from './types.js';

export interface ProposedEntry {
  id: number;
  index: LogIndex;
  term: Term;
}

/** What a Ready handed out, so that advance() can mark exactly that as done. */
export interface ReadyMark {
  hardState: HardState | null;
  lastEntry: { index: number; term: number } | null;
  /** The log's rewrite epoch when the Ready was handed out (RaftLog.stableTo). */
  epoch: number;
  snapshotIndex: number | null;
  appliedTo: number;
}

export class Outbox {
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  droppedProposals: DroppedProposal[] = [];
  droppedReads: DroppedRead[] = [];
  proposed: ProposedEntry[] = [];

  any(): boolean {
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.droppedProposals.length > 0 ||
      this.droppedReads.length > 0 ||
      this.proposed.length > 0
    );
  }

  /**
   * Acknowledgements still queued (not yet handed out in a Ready) for entries that are being replaced
   * would claim what the log no longer holds once the Ready is persisted: withdraw them.
   */
  dropQueuedAcks(fromIndex: number): void {
    this.msgs = this.msgs.filter(
      (m) => m.type !== MessageType.AppendResp || m.reject === true || (m.index ?? 0) < fromIndex,
    );
  }

  /** Everything queued, handed out in a Ready; the outbox starts empty again. */
  take(): Pick<Outbox, 'msgs' | 'readStates' | 'droppedProposals' | 'droppedReads' | 'proposed'> {
    const out = {
      msgs: this.msgs,
      readStates: this.readStates,
      droppedProposals: this.droppedProposals,
      droppedReads: this.droppedReads,
      proposed: this.proposed,
    };
    this.msgs = [];
    this.readStates = [];
    this.droppedProposals = [];
    this.droppedReads = [];
    this.proposed = [];
    return out;
  }
}

/**
 * A message that grants a vote or acknowledges entries: it may be sent only after the write it
 * vouches for (a leader answers a deposed leader's Append with one, to tell it our term).
 */
export function acknowledges(m: Message): boolean {
  return (m.type === MessageType.AppendResp || m.type === MessageType.VoteResp) && m.reject !== true;
}

/** Same term, vote and recovery floor: only the commit index may differ. */
export function sameVote(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && (a.recovery ?? null) === (b.recovery ?? null);
}

export function hardStateChanged(a: HardState, b: HardState): boolean {
  return (
    a.term !== b.term || a.vote !== b.vote || a.commit !== b.commit || (a.recovery ?? null) !== (b.recovery ?? null)
  );
}

/**
 * Whether the Ready's write must be fsynced before its messages go out: a term, vote, entry or
 * snapshot must (a vote or an acknowledgement depends on it); a commit index alone need not.
 * `voteBeforePersist` plants the bug of answering a vote before it is durable (test only).
 */
export function readyMustSync(
  prev: HardState,
  hs: HardState | null,
  entries: readonly Entry[],
  snapshot: Snapshot | null,
  voteBeforePersist = false,
): boolean {
  if (entries.length > 0 || snapshot !== null) return true;
  return !voteBeforePersist && hs !== null && (hs.term !== prev.term || hs.vote !== prev.vote);
}
