// State machine versions (issue 16, docs/decisions.md "State machine versions"): a release implements
// versions 1..SM_MAX; the replicated state holds `activeVersion` (1 in every state written before),
// and a behaviour change after version 1 is written `st.activeVersion >= N ? new : old`, so every
// replica applies an entry the same way whichever binary it runs. The version moves only by the
// replicated `activateVersion` command, which the leader proposes once every member reported an
// SM_MAX at least that high. A replica whose cap is below a version it is asked to apply (or restore)
// stops: SmVersionError, raised before the entry changes anything.
//
// The cap a replica applies with is a parameter of the machine (MachineOptions.smMax), never read
// from this constant while applying: the simulation and the test hook run replicas capped below it.

/** The highest state machine version this release implements. 2: a task a topic publish created records the topic (its story's `enqueued` step names it). */
export const SM_MAX = 2;

/** The version of every state written before versions existed (and of a snapshot without the field). */
export const SM_BASE = 1;

/** Refused to apply or restore a state machine version above this replica's cap. Not a bug: upgrade. */
export class SmVersionError extends Error {
  constructor(
    readonly version: number,
    readonly smMax: number,
  ) {
    super(versionMessage(version, smMax));
    this.name = 'SmVersionError';
  }
}

export function versionMessage(version: number, smMax: number): string {
  return `the cluster runs state machine version ${version}; this raftq supports up to ${smMax}: upgrade this member`;
}

/** A member's reported cap, as the leader last heard it (null: not heard yet). */
export interface ReportedVersion {
  id: string;
  smMax: number | null;
}

/** A member behind the version asked for: its reported SM_MAX (null: the leader has not heard it). */
export interface BehindMember {
  id: string;
  smMax: number | null;
}

/**
 * The leader's check before proposing `activateVersion n`: every member of the membership, learners
 * included, reported SM_MAX ≥ n. Returns the members behind (empty: go ahead), in membership order.
 */
export function membersBehind(members: readonly ReportedVersion[], n: number): BehindMember[] {
  return members.filter((m) => m.smMax === null || m.smMax < n).map((m) => ({ id: m.id, smMax: m.smMax }));
}

/** The refusal's text: each member behind and its version. */
export function behindMessage(n: number, behind: readonly BehindMember[]): string {
  const list = behind.map(
    (b) => `${b.id} (${b.smMax === null ? 'version not heard yet' : `supports up to ${b.smMax}`})`,
  );
  return `cannot activate state machine version ${n}: ${list.join(', ')} ${behind.length === 1 ? 'is' : 'are'} behind; upgrade ${behind.length === 1 ? 'it' : 'them'} first`;
}
