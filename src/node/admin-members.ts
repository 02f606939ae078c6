// Membership operations on a running cluster (issue 16, docs/operations.md "Membership"): the admin
// HTTP routes behind `raftq members add | promote | remove | replace | transfer-leader` and `--join`,
// on top of the core's single-server changes (src/raft/membership.ts). Every refusal is a typed
// error (MembersError) with a code the CLI prints. Also keeps the peer transport's dial map in step
// with the membership: a member added at run time carries its peer address in the membership.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChangeRefusal } from '../raft/membership.js';
import type { RaftNode } from '../raft/node.js';
import type { Member, Membership } from '../raft/types.js';
import type { PeerTransport } from '../rpc/peer-transport.js';
import { formatHostPort, parseHostPort, type NodeConfig } from './config.js';
import type { NodeDriver } from './driver.js';
import type { Logger } from './logger.js';
import { joinVersionRefusal, type MemberVersions } from './admin-versions.js';
import { SM_MAX } from '../statemachine/version.js';

export const MEMBERS_ERROR_CODES = [
  'NOT_LEADER',
  'CHANGE_IN_PROGRESS',
  'TRANSFER_IN_PROGRESS',
  'LEARNER_LAGGING',
  'NOT_HEARD_FROM',
  'ID_EXISTS',
  'NO_SUCH_MEMBER',
  'NOT_A_LEARNER',
  'LAST_VOTER',
  'NO_QUORUM',
  'CLUSTER_MISMATCH',
  'SM_VERSION',
  'INVALID_ARGUMENT',
  'TIMEOUT',
] as const;
export type MembersErrorCode = (typeof MEMBERS_ERROR_CODES)[number];

/** A refused membership request: `code` says why, `leader` where to go for NOT_LEADER. */
export class MembersError extends Error {
  constructor(
    readonly code: MembersErrorCode,
    message: string,
    readonly leader: string | null = null,
  ) {
    super(message);
    this.name = 'MembersError';
  }
}

export interface MemberView {
  id: string;
  role: 'voter' | 'learner';
  address: string;
  peerAddress: string | null;
  storageId: string;
  /** The leader's view (null elsewhere, or before the leader heard from it). */
  matchIndex: number | null;
  active: boolean | null;
  /** The highest state machine version it runs, as this node last heard it (null: not heard). */
  smMax: number | null;
}

export interface ChangeAnswer {
  ok: true;
  index: number;
  members: MemberView[];
  /** Join only: how this node dials each member's peer port. */
  peers?: Record<string, string>;
  clusterId?: string;
}

export interface JoinRequest {
  id: string;
  storageId: string;
  address: string;
  peerAddress: string;
  clusterId: string;
  /** The joiner's SM_MAX (absent: a release before versions, version 1). */
  smMax?: number;
}

export interface MembersDeps {
  config: NodeConfig;
  raft: RaftNode;
  driver: NodeDriver;
  transport: PeerTransport;
  clusterId: string;
  log: Logger;
  /** The SM_MAX heard from each member (admin-versions.ts). */
  versions?: MemberVersions;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** How long a change may take to commit before the request answers TIMEOUT (it may still commit). */
const COMMIT_WAIT_MS = 10_000;
const PEER_BOOK = 'peer-book.json';
const SYNC_BACKSTOP_MS = 10_000;

const REFUSALS: Record<ChangeRefusal, [MembersErrorCode, string]> = {
  'not-leader': ['NOT_LEADER', 'this node is not the leader'],
  'change-in-progress': ['CHANGE_IN_PROGRESS', 'another membership change is not committed yet'],
  'no-commit-in-term': ['CHANGE_IN_PROGRESS', 'the new leader has not committed an entry of its term yet'],
  'transfer-in-progress': ['TRANSFER_IN_PROGRESS', 'a leadership transfer is in progress'],
  'learner-lagging': ['LEARNER_LAGGING', 'the learner has not caught up with the commit index'],
  invalid: ['INVALID_ARGUMENT', 'the change does not apply to the current membership'],
};

export class MembersAdmin {
  /** Peer addresses learned from a join answer (persisted: a joined node must dial peers after a restart). */
  private book = new Map<string, string>();
  private dialed = '';
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private stopped = false;

  constructor(private readonly d: MembersDeps) {
    const file = join(d.config.dataDir, PEER_BOOK);
    if (existsSync(file)) {
      try {
        const o = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
        for (const [id, a] of Object.entries(o)) if (typeof a === 'string') this.book.set(id, a);
      } catch (err) {
        d.log.warn({ err, file }, 'ignoring an unreadable peer book');
      }
    }
  }

  /** Starts following the membership (peer dial map); a --join node also starts joining. */
  start(): void {
    this.syncPeers();
    // The dial map follows the membership as soon as the log holds a change; the slow timer is a backstop.
    this.unsubscribe = this.d.driver.onConfigChange(() => this.syncPeers());
    this.timer = setInterval(() => this.syncPeers(), SYNC_BACKSTOP_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** This node's SM_MAX, sent with a join request (issue 16). */
  get smMax(): number {
    return this.d.versions?.smMax ?? SM_MAX;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** The admin HTTP routes, by "METHOD /path". */
  routes(): Record<string, (body: string) => Promise<{ status: number; body: unknown }>> {
    const wrap =
      (f: (o: Record<string, unknown>) => Promise<unknown>) =>
      async (body: string): Promise<{ status: number; body: unknown }> => {
        try {
          return { status: 200, body: await f(parseBody(body)) };
        } catch (err) {
          if (!(err instanceof MembersError)) throw err;
          return { status: statusOf(err.code), body: errorBody(err) };
        }
      };
    return {
      'GET /admin/members': wrap(async () => ({ ok: true, ...this.view() })),
      'POST /admin/members': wrap(async () => ({ ok: true, ...this.view() })),
      'POST /admin/members/add': wrap((o) =>
        this.add({ id: str(o, 'id'), address: addr(o, 'address'), peerAddress: addr(o, 'peerAddress'), storageId: '' }),
      ),
      'POST /admin/members/promote': wrap((o) => this.promote(str(o, 'id'))),
      'POST /admin/members/remove': wrap((o) => this.remove(str(o, 'id'))),
      'POST /admin/members/transfer-leader': wrap((o) => this.transferLeader(str(o, 'id'))),
      // State machine versions (admin-versions.ts): the member reports they gather are this module's.
      ...(this.d.versions?.routes() ?? {}),
      'POST /admin/members/join': wrap((o) =>
        this.join({
          id: str(o, 'id'),
          storageId: str(o, 'storageId', /^[A-Za-z0-9_-]{1,128}$/),
          address: addr(o, 'address'),
          peerAddress: addr(o, 'peerAddress'),
          clusterId: str(o, 'clusterId', ID_RE),
          ...(typeof o['smMax'] === 'number' ? { smMax: o['smMax'] } : {}),
        }),
      ),
    };
  }

  view(): { id: string; leader: string | null; role: string; configIndex: number; members: MemberView[] } {
    const st = this.d.raft.status();
    const members = st.membership.members.map((m): MemberView => {
      const pr = st.progress.find((p) => p.id === m.id);
      return {
        id: m.id,
        role: m.role,
        address: m.address,
        peerAddress: m.peerAddress ?? this.dialMap().get(m.id) ?? null,
        storageId: m.storageId,
        matchIndex: pr ? pr.match : null,
        active: pr ? pr.recentActive || m.id === st.id : null,
        smMax: this.d.versions?.get(m.id) ?? null,
      };
    });
    return { id: st.id, leader: st.leader, role: st.role, configIndex: st.configIndex, members };
  }

  /** Adds a learner; its storage id is bound when the leader first hears from it (identity-binding.ts). */
  async add(m: Omit<Member, 'role'>): Promise<ChangeAnswer> {
    this.leaderOnly();
    if (!ID_RE.test(m.id)) throw new MembersError('INVALID_ARGUMENT', `id: "${m.id}" is not a valid node id`);
    if (this.member(m.id))
      throw new MembersError('ID_EXISTS', `${m.id} is already a member: remove it first, or pick another id`);
    return this.change({ type: 'addLearner', member: { ...m, role: 'learner' } });
  }

  async promote(id: string): Promise<ChangeAnswer> {
    this.leaderOnly();
    const m = this.member(id);
    if (!m) throw new MembersError('NO_SUCH_MEMBER', `${id} is not a member`);
    if (m.role !== 'learner') throw new MembersError('NOT_A_LEARNER', `${id} is already a voter`);
    if (m.storageId === '')
      throw new MembersError('NOT_HEARD_FROM', `the leader has not heard from ${id} yet (is it running?)`);
    const st = this.d.raft.status();
    const match = st.progress.find((p) => p.id === id)?.match ?? 0;
    if (match < st.commit)
      throw new MembersError(
        'LEARNER_LAGGING',
        `${id} has replicated up to ${match}, behind the commit index ${st.commit}`,
      );
    this.noChangePending();
    // Caught up, so it answers: it counts among the reachable voters it would join.
    await this.needQuorum([...this.voters(), id], `promoting ${id}`, id);
    return this.change({ type: 'promote', id });
  }

  /** Removes any member; the leader removing itself hands leadership over first (NOT_LEADER: retry there). */
  async remove(id: string): Promise<ChangeAnswer> {
    this.leaderOnly();
    const m = this.member(id);
    if (!m) throw new MembersError('NO_SUCH_MEMBER', `${id} is not a member`);
    const rest = this.voters().filter((v) => v !== id);
    if (m.role === 'voter' && rest.length === 0)
      throw new MembersError('LAST_VOTER', `${id} is the last voter: a cluster needs one`);
    this.noChangePending();
    if (m.role === 'voter') await this.needQuorum(rest, `removing ${id}`);
    if (id === this.d.config.id) {
      const moved = await this.d.driver.transferLeadership(3_000);
      const leader = this.d.raft.leader;
      throw new MembersError(
        'NOT_LEADER',
        moved
          ? `${id} was the leader: it handed leadership to ${leader ?? 'another voter'}; ask the new leader to remove ${id}`
          : `${id} is the leader and could not hand leadership over yet; retry`,
        leader === id ? null : leader,
      );
    }
    return this.change({ type: 'remove', id });
  }

  async transferLeader(id: string): Promise<ChangeAnswer> {
    this.leaderOnly();
    const m = this.member(id);
    if (!m) throw new MembersError('NO_SUCH_MEMBER', `${id} is not a member`);
    if (m.role !== 'voter') throw new MembersError('INVALID_ARGUMENT', `${id} is a learner: only a voter can lead`);
    if (id !== this.d.config.id) {
      const r = this.d.raft.transferLeader(id);
      if (!r.ok) throw new MembersError('TRANSFER_IN_PROGRESS', `leadership transfer to ${id} refused: ${r.reason}`);
      const end = Date.now() + 3_000;
      while (Date.now() < end && this.d.raft.leader !== id) await sleep(20);
      if (this.d.raft.leader !== id) throw new MembersError('TIMEOUT', `${id} did not take leadership within 3 s`);
    }
    return { ok: true, index: this.d.raft.commitIndex, members: this.view().members };
  }

  /** A node started with --join asks to be added (idempotent for the same id and storage). */
  async join(r: JoinRequest): Promise<ChangeAnswer> {
    this.leaderOnly();
    if (r.clusterId !== this.d.clusterId)
      throw new MembersError(
        'CLUSTER_MISMATCH',
        `cluster id "${r.clusterId}" is not this cluster's ("${this.d.clusterId}"): a node never joins another cluster`,
      );
    // Before it becomes a learner: a member that cannot apply the active version never joins (issue 16).
    const tooOld = joinVersionRefusal(r.smMax, this.d.driver.status().activeVersion ?? 1);
    if (tooOld !== null) throw new MembersError('SM_VERSION', tooOld);
    this.d.versions?.record(r.id, r.smMax ?? 1);
    const m = this.member(r.id);
    let answer: ChangeAnswer;
    // The same disk asking again, or a member an operator added (unbound until the leader hears it).
    if (m && (m.storageId === r.storageId || m.storageId === '')) {
      answer = { ok: true, index: this.d.raft.status().configIndex, members: this.view().members };
    } else if (m) {
      throw new MembersError(
        'ID_EXISTS',
        `${r.id} is a member with another storage id (its data dir was wiped?): remove it first (raftq members replace), or join under a new id`,
      );
    } else {
      answer = await this.change({
        type: 'addLearner',
        member: { id: r.id, storageId: r.storageId, address: r.address, peerAddress: r.peerAddress, role: 'learner' },
      });
    }
    const peers = Object.fromEntries(this.dialMap());
    const self = this.d.config.peers.get(this.d.config.id);
    if (self) peers[this.d.config.id] = formatHostPort(self);
    return { ...answer, peers, clusterId: this.d.clusterId };
  }

  /** Adds peer addresses a join answer gave, and keeps them for the next start. */
  learnPeers(peers: Record<string, string>): void {
    let changed = false;
    for (const [id, a] of Object.entries(peers)) {
      if (id === this.d.config.id || typeof a !== 'string' || this.book.get(id) === a) continue;
      this.book.set(id, a);
      changed = true;
    }
    if (!changed) return;
    const file = join(this.d.config.dataDir, PEER_BOOK);
    writeFileSync(`${file}.tmp`, JSON.stringify(Object.fromEntries(this.book)) + '\n', { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
    this.syncPeers();
  }

  /** How this node dials each other member: --peers win (they may be proxies), then the membership, then the book. */
  dialMap(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [id, a] of this.book) out.set(id, a);
    for (const m of this.d.raft.currentMembership.members) if (m.peerAddress) out.set(m.id, m.peerAddress);
    for (const [id, hp] of this.d.config.peers) out.set(id, formatHostPort(hp));
    out.delete(this.d.config.id);
    return out;
  }

  syncPeers(): void {
    const map = this.dialMap();
    const key = JSON.stringify([...map].sort());
    if (key === this.dialed) return;
    this.dialed = key;
    this.d.transport.setPeers(map);
  }

  // ---------------------------------------------------------------- internals

  private leaderOnly(): void {
    const st = this.d.raft.status();
    if (st.role !== 'leader')
      throw new MembersError(
        'NOT_LEADER',
        `${st.id} is not the leader (leader: ${st.leader ?? 'unknown'}); ask the leader's admin address`,
        st.leader,
      );
  }

  /**
   * The core refuses a second change while one is uncommitted; asking first answers at once, where
   * the quorum sampling could wait two election timeouts (and see the leader step down meanwhile).
   */
  private noChangePending(): void {
    const st = this.d.raft.status();
    if (st.configIndex > st.commit) {
      const [code, message] = REFUSALS['change-in-progress'];
      throw new MembersError(code, message);
    }
  }

  private member(id: string): Member | undefined {
    return this.d.raft.currentMembership.members.find((m) => m.id === id);
  }

  private voters(): string[] {
    return this.d.raft.currentMembership.members.filter((m) => m.role === 'voter').map((m) => m.id);
  }

  /**
   * Refuses a change after which the voters the leader hears from would not be a majority. The core
   * clears its "recently active" marks every election timeout (check-quorum) and a live peer sets its
   * mark again within a heartbeat, so the marks are sampled over two election timeouts: a reachable
   * voter shows up in one sample, a dead or wiped one (its answers do not count) in none.
   */
  private async needQuorum(voters: string[], what: string, caughtUp = ''): Promise<void> {
    const need = Math.floor(voters.length / 2) + 1;
    const end = Date.now() + 2 * this.d.config.electionTicks * this.d.config.heartbeatMs;
    let active: string[] = [];
    for (;;) {
      const st = this.d.raft.status();
      if (st.role !== 'leader') this.leaderOnly();
      active = voters.filter(
        (v) => v === st.id || v === caughtUp || st.progress.some((p) => p.id === v && p.recentActive && p.match > 0),
      );
      if (active.length >= need) return;
      if (Date.now() >= end) break;
      await sleep(this.d.config.heartbeatMs);
    }
    throw new MembersError(
      'NO_QUORUM',
      `${what} would leave ${active.length} reachable voters of ${voters.length} (${active.join(', ')}), fewer than the ${need} a majority needs`,
    );
  }

  /** Proposes a change and waits until it is committed and applied here. */
  private async change(c: Parameters<RaftNode['changeMembership']>[0]): Promise<ChangeAnswer> {
    const r = this.d.raft.changeMembership(c);
    if (!r.ok) {
      const [code, message] = REFUSALS[r.reason];
      throw new MembersError(code, message, code === 'NOT_LEADER' ? this.d.raft.leader : null);
    }
    this.d.log.info({ change: c.type, index: r.index }, 'membership change proposed');
    try {
      await this.d.driver.waitApplied(r.index, COMMIT_WAIT_MS);
    } catch {
      throw new MembersError('TIMEOUT', `the change at index ${r.index} was not committed within ${COMMIT_WAIT_MS} ms`);
    }
    this.syncPeers();
    return { ok: true, index: r.index, members: this.view().members };
  }
}

export function statusOf(code: MembersErrorCode): number {
  if (code === 'NOT_LEADER') return 421;
  if (code === 'INVALID_ARGUMENT') return 400;
  if (code === 'NO_SUCH_MEMBER') return 404;
  if (code === 'TIMEOUT') return 504;
  return 409;
}

function errorBody(err: MembersError): unknown {
  return { ok: false, code: err.code, message: err.message, ...(err.leader ? { leader: err.leader } : {}) };
}

function parseBody(body: string): Record<string, unknown> {
  if (body.trim() === '') return {};
  let o: unknown;
  try {
    o = JSON.parse(body);
  } catch {
    throw new MembersError('INVALID_ARGUMENT', 'body: malformed JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new MembersError('INVALID_ARGUMENT', 'body: not a JSON object');
  return o as Record<string, unknown>;
}

function str(o: Record<string, unknown>, field: string, re: RegExp = ID_RE): string {
  const v = o[field];
  if (typeof v !== 'string' || !re.test(v))
    throw new MembersError('INVALID_ARGUMENT', `${field}: missing or malformed`);
  return v;
}

function addr(o: Record<string, unknown>, field: string): string {
  const v = o[field];
  if (typeof v !== 'string') throw new MembersError('INVALID_ARGUMENT', `${field}: missing (host:port)`);
  try {
    return formatHostPort(parseHostPort(field, v));
  } catch (err) {
    throw new MembersError('INVALID_ARGUMENT', (err as Error).message);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The membership a fresh data dir of a --join node starts from: none (it learns it from the leader). */
export function joinerMembership(): Membership {
  return { members: [] };
}
