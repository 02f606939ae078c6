// State machine versions in the node simulation (issue 16): some replicas run an older release
// (capped at SM_MAX = 1) beside uncapped ones. The run asks to activate version 2 from a chosen time,
// as `raftq cluster activate-version 2` does: the leader checks the versions its members reported
// (src/statemachine/version.ts membersBehind), refuses while one is behind, else proposes the
// replicated command. The capped ones may be restarted on the new release (a rolling upgrade).
// With `skipCheck` the activation is proposed anyway (a member downgraded after the check): a capped
// replica must then stop with the message, never apply it. Digests are compared at every index by
// the simulation itself, so replicas of different caps must agree before and after the activation.
import type { NodeDriver } from '../../../src/node/driver.js';
import type { RaftNode } from '../../../src/raft/node.js';
import { SM_MAX, SmVersionError, behindMessage, membersBehind } from '../../../src/statemachine/version.js';
import type { Scheduler } from './scheduler.js';

export interface VersionsPlan {
  /** Nodes (ids) whose first lives run an older release: SM_MAX 1. */
  capped: string[];
  /** When the capped nodes are restarted on the new release (ms; null: never). */
  upgradeAtMs: number | null;
  /** From when the run asks the leader to activate version 2, every 100 ms until it commits. */
  activateFromMs: number;
  /** Propose without the leader's check (a member downgraded after it): capped replicas must stop. */
  skipCheck?: boolean;
}

export interface VersionsOutcome {
  /** The distinct refusals the leader's check gave. */
  refusals: string[];
  /** When (simulated ms) and at which index the activation committed (null: it did not). */
  activatedAtMs: number | null;
  activatedIndex: number | null;
  /** Replicas that stopped on a version above their cap: "id: message". */
  stops: string[];
  /** The active version each node's replica applied at the end (null: down). */
  finalVersions: Record<string, number | null>;
}

/** What the versions scenario needs of a simulated node. */
export interface VersionedNode {
  id: string;
  up: boolean;
  smMax: number;
  driver: NodeDriver | null;
  raft: RaftNode | null;
  clock: { monoMs(): number } | null;
}

export class SimVersions {
  readonly outcome: VersionsOutcome = {
    refusals: [],
    activatedAtMs: null,
    activatedIndex: null,
    stops: [],
    finalVersions: {},
  };
  /** The SM_MAX each member last reported (a member reports it when it starts, as in its status). */
  private readonly reported = new Map<string, number>();
  private attempt = 0;

  constructor(
    private readonly plan: VersionsPlan,
    private readonly sched: Scheduler,
    private readonly nodes: VersionedNode[],
    private readonly leader: () => VersionedNode | undefined,
    private readonly restart: (n: VersionedNode) => void,
  ) {
    for (const n of nodes) n.smMax = plan.capped.includes(n.id) ? 1 : SM_MAX;
  }

  /** A node starts: it reports the SM_MAX of this life. */
  started(n: VersionedNode): void {
    this.reported.set(n.id, n.smMax);
  }

  /** A node's driver stopped on an error: true when it is the version stop (recorded, not a violation). */
  fatal(n: VersionedNode, e: Error): boolean {
    if (!(e instanceof SmVersionError)) return false;
    this.outcome.stops.push(`${n.id}: ${e.message}`);
    return true;
  }

  schedule(): void {
    const at = this.plan.upgradeAtMs;
    if (at !== null) {
      this.sched.at(at, () => {
        for (const n of this.nodes) {
          if (n.smMax >= SM_MAX) continue;
          n.smMax = SM_MAX;
          this.restart(n);
        }
      });
    }
    this.sched.at(this.plan.activateFromMs, () => this.tryActivate());
  }

  private tryActivate(): void {
    if (this.outcome.activatedAtMs !== null) return;
    const again = (): void => void this.sched.after(100, () => this.tryActivate());
    const l = this.leader();
    if (l === undefined || l.driver === null || l.raft === null || l.clock === null) return again();
    const members = l.raft.currentMembership.members.map((m) => ({ id: m.id, smMax: this.reported.get(m.id) ?? null }));
    const behind = membersBehind(members, 2);
    if (behind.length > 0 && this.plan.skipCheck !== true) {
      const msg = behindMessage(2, behind);
      if (!this.outcome.refusals.includes(msg)) this.outcome.refusals.push(msg);
      return again();
    }
    const cmd = { session: null, seq: 0, cmd: { type: 'activateVersion' as const, version: 2 } };
    // One attempt at a time; one whose node stopped under it (no answer) is given up after 2 s.
    const attempt = ++this.attempt;
    const retry = (): void => {
      if (attempt === this.attempt) again();
    };
    this.sched.after(2_000, () => {
      if (attempt === this.attempt) {
        this.attempt++;
        this.tryActivate();
      }
    });
    l.driver.execute([cmd], { deadline: l.clock.monoMs() + 1_500 }).then(
      (r) => {
        const a = r.answers[0];
        if (a?.ok !== true) return retry();
        this.attempt++;
        if (this.outcome.activatedAtMs !== null) return;
        this.outcome.activatedAtMs = this.sched.now;
        this.outcome.activatedIndex = r.index;
      },
      () => retry(),
    );
  }

  /** At the end: the active version each running replica applied (null: down). */
  finish(nodes: { id: string; up: boolean; sm: { activeVersion(): number } | null }[]): void {
    this.outcome.finalVersions = Object.fromEntries(
      nodes.map((n) => [n.id, n.up && n.sm !== null ? n.sm.activeVersion() : null]),
    );
  }
}
