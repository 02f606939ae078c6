// State machine versions on the admin port (issue 16, docs/operations.md "Upgrades"): the leader keeps
// the latest SM_MAX it heard from each member (join requests, their status over the peer port), shows
// it in `raftq members list`, and `raftq cluster activate-version N` proposes the replicated
// `activateVersion` once every member of the membership, learners included, reported SM_MAX ≥ N
// (src/statemachine/version.ts); else a typed refusal names each member behind and its version.
import type { SessionCommand } from '../protocol/commands.js';
import type { RaftNode } from '../raft/node.js';
import type { ForwardSender } from '../rpc/forward-link.js';
import { decodeMemberStatus, encodeStatusRequest } from '../rpc/member-status-codec.js';
import type { ClientExecutor } from '../rpc/executor.js';
import type { BehindMember } from '../statemachine/version.js';
import { behindMessage, membersBehind, versionMessage } from '../statemachine/version.js';
import type { Logger } from './logger.js';
import type { NodeConfig } from './config.js';
import type { NodeDriver } from './driver.js';
import type { QueueStateMachine } from '../statemachine/index.js';

export interface VersionsDeps {
  selfId: string;
  /** This node's cap (SM_MAX, or the test hook's). */
  smMax: number;
  /** The replicated active version as applied here. */
  activeVersion: () => number;
  raft: RaftNode;
  driver: ClientExecutor;
  /** Status calls to the other members over the peer port. */
  link: ForwardSender;
  log: Logger;
  /** Bound on each member's status call (ms). */
  callMs?: number;
}

type Route = (body: string) => Promise<{ status: number; body: unknown }>;

const COMMIT_WAIT_MS = 10_000;

/** The latest SM_MAX heard from each member, and the activate-version route. */
export class MemberVersions {
  private readonly heard = new Map<string, number>();

  constructor(private readonly d: VersionsDeps) {
    this.heard.set(d.selfId, d.smMax);
  }

  get smMax(): number {
    return this.d.smMax;
  }

  /** Records a member's report (a join request, a status answer); a malformed one is ignored. */
  record(id: string, smMax: unknown): void {
    if (id === this.d.selfId) return;
    if (typeof smMax === 'number' && Number.isSafeInteger(smMax) && smMax >= 1) this.heard.set(id, smMax);
  }

  /** The latest SM_MAX heard from `id` (null: none yet). */
  get(id: string): number | null {
    return this.heard.get(id) ?? null;
  }

  /** Asks every other member of the membership its status over the peer port, each call bounded. */
  async refresh(): Promise<void> {
    const ids = this.d.raft.currentMembership.members.map((m) => m.id).filter((id) => id !== this.d.selfId);
    await Promise.all(
      ids.map(async (id) => {
        try {
          const s = decodeMemberStatus(await this.d.link.send('Status', id, encodeStatusRequest(), this.callMs()));
          // A member of a release before versions answers without the field: it runs version 1.
          if (s !== null) this.record(id, s['smMax'] ?? 1);
        } catch {
          // Unreachable now: its last report (if any) stands; the stop-on-apply rule backs it up.
        }
      }),
    );
  }

  /** Every member with the SM_MAX last heard from it, in membership order. */
  members(): { id: string; smMax: number | null }[] {
    return this.d.raft.currentMembership.members.map((m) => ({ id: m.id, smMax: this.get(m.id) }));
  }

  routes(): Record<string, Route> {
    return {
      'POST /admin/cluster/activate-version': (body) => this.activate(body),
      // The leader's view (it is the one that checks): a follower answers NOT_LEADER, the CLI goes on.
      'POST /admin/cluster/versions': async () => {
        const notLeader = this.notLeader();
        if (notLeader !== null) return notLeader;
        await this.refresh();
        return { status: 200, body: { ok: true, ...this.view() } };
      },
    };
  }

  view(): { smMax: number; activeVersion: number; members: { id: string; smMax: number | null }[] } {
    return { smMax: this.d.smMax, activeVersion: this.d.activeVersion(), members: this.members() };
  }

  private notLeader(): { status: number; body: unknown } | null {
    const st = this.d.raft.status();
    if (st.role === 'leader') return null;
    const msg = `${st.id} is not the leader (leader: ${st.leader ?? 'unknown'}); ask the leader's admin address`;
    return refusal(421, 'NOT_LEADER', msg, st.leader ? { leader: st.leader } : {});
  }

  private callMs(): number {
    return this.d.callMs ?? 1_500;
  }

  private async activate(body: string): Promise<{ status: number; body: unknown }> {
    const version = parseVersion(body);
    if (typeof version === 'string') return refusal(400, 'INVALID_ARGUMENT', version, { field: 'version' });
    const notLeader = this.notLeader();
    if (notLeader !== null) return notLeader;
    await this.refresh();
    const behind: BehindMember[] = membersBehind(this.members(), version);
    if (behind.length > 0) {
      this.d.log.warn({ version, behind }, 'state machine version not activated: members behind');
      return refusal(409, 'MEMBERS_BEHIND', behindMessage(version, behind), { behind });
    }
    const sc: SessionCommand = { session: null, seq: 0, cmd: { type: 'activateVersion', version } };
    const r = await this.d.driver.execute([sc], { deadline: performance.now() + COMMIT_WAIT_MS });
    const a = r.answers[0];
    if (a === undefined || !a.ok) {
      const e = a?.ok === false ? a.error : { code: 'UNAVAILABLE', message: 'no answer' };
      return refusal(e.code === 'NOT_LEADER' ? 421 : 503, e.code, e.message, {});
    }
    const v = a.value as { activeVersion: number; changed: boolean };
    this.d.log.info({ version, index: r.index, changed: v.changed }, 'state machine version activated');
    return { status: 200, body: { ok: true, ...v, index: r.index } };
  }
}

/** The refusal a node sends a joining member whose cap is below the active version (null: it may join). */
export function joinVersionRefusal(joinerSmMax: unknown, activeVersion: number): string | null {
  // A release before versions sends no smMax: it runs version 1.
  const cap = typeof joinerSmMax === 'number' && Number.isSafeInteger(joinerSmMax) ? joinerSmMax : 1;
  return cap < activeVersion ? versionMessage(activeVersion, cap) : null;
}

function parseVersion(body: string): number | string {
  let o: unknown;
  try {
    o = JSON.parse(body === '' ? '{}' : body);
  } catch {
    return 'body must be JSON';
  }
  const v = typeof o === 'object' && o !== null ? (o as Record<string, unknown>)['version'] : undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > 1_000_000)
    return 'version must be an integer in [1, 1000000]';
  return v;
}

function refusal(
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown>,
): { status: number; body: unknown } {
  return { status, body: { ok: false, code, message, ...extra } };
}

/** The node's MemberVersions (server.ts). */
export function memberVersions(
  config: NodeConfig,
  core: { sm: QueueStateMachine; raft: RaftNode; driver: NodeDriver },
  link: ForwardSender,
  log: Logger,
): MemberVersions {
  return new MemberVersions({
    selfId: config.id,
    smMax: core.sm.smMax,
    activeVersion: () => core.sm.activeVersion(),
    raft: core.raft,
    driver: core.driver,
    link,
    log,
  });
}
