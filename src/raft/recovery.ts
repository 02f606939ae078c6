// Recovery after a storage loss (docs/faults.md P11): a node whose disk lost synced state carries a floor, the
// (index, term) bound of what it may have acknowledged. Until its log covers that floor again it
// neither campaigns nor votes for a candidate whose log is behind the floor.

import type { RaftLog } from './log.js';
import type { RecoveryFloor } from './types.js';

/** Whether a log ending at (index, term) is at least as up to date as the floor (always, with none). */
export function coversFloor(floor: RecoveryFloor | null, index: number, term: number): boolean {
  return floor === null || term > floor.term || (term === floor.term && index >= floor.index);
}

/**
 * Recovery ends once our log again holds every entry that could have been committed with our lost
 * acknowledgements: it is itself as up to date as the floor; or a leader's commit index reached the
 * floor's index; or that commit holds an entry of a later term than the floor's (that leader's log
 * has all earlier commits, and terms only grow along a log, so nothing we acked beyond it can be
 * committed).
 */
export function recoveryEnds(floor: RecoveryFloor, log: RaftLog): boolean {
  const committed = log.committed;
  return (
    coversFloor(floor, log.lastIndex(), log.lastTerm()) ||
    committed >= floor.index ||
    (log.term(committed) ?? 0) > floor.term
  );
}

/** The hard state's optional `recovery` field. */
export function recoveryField(floor: RecoveryFloor | null): { recovery?: RecoveryFloor } {
  return floor === null ? {} : { recovery: floor };
}
