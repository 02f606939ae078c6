// Membership: the configurations a node has seen and the one in effect. Changes are single-server
// (one voter added or removed at a time) with the known fix: a leader first commits an entry of its
// own term, at most one change is uncommitted, a change takes effect when appended and reverts when
// its entry is truncated. `Membership.outgoing` stays unused.

import { assert } from '../protocol/assert.js';
import { EntryType } from './types.js';
import type { Member, Membership, NodeId, Storage, StorageId } from './types.js';

export type MembershipChange =
  | { type: 'addLearner'; member: Member }
  | { type: 'promote'; id: NodeId }
  | { type: 'remove'; id: NodeId }
  /**
   * Bootstrap identity (docs/design.md §5): fills in storage ids that are still unbound ('') and advertised
   * addresses. Ids and roles must stay the same; a bound storage id never changes this way.
   */
  | { type: 'bind'; members: Member[] };

export type ChangeRefusal =
  'not-leader' | 'change-in-progress' | 'no-commit-in-term' | 'transfer-in-progress' | 'learner-lagging' | 'invalid';

export type ChangeResult = { ok: true; index: number } | { ok: false; reason: ChangeRefusal };

interface ConfigAt {
  index: number;
  membership: Membership;
}

/** The membership with unbound storage ids and addresses filled in, or 'invalid'. */
export function bindMembers(current: readonly Member[], next: readonly Member[]): Membership | 'invalid' {
  if (next.length !== current.length) return 'invalid';
  const out: Member[] = [];
  let changed = false;
  for (const m of current) {
    const n = next.find((x) => x.id === m.id);
    if (n === undefined || n.role !== m.role) return 'invalid';
    if (m.storageId !== '' && n.storageId !== m.storageId) return 'invalid';
    if (n.storageId !== m.storageId || n.address !== m.address) changed = true;
    out.push({ ...m, storageId: n.storageId, address: n.address });
  }
  return changed ? { members: out } : 'invalid';
}

/**
 * The configuration history of one node: a base (in effect at the log's start or the snapshot) and
 * the config entries above it, newest last, so a truncation can revert to the one before. `current`
 * is what is in effect; the core applies it (`RaftNode.setMembership`) since that also moves progress.
 */
export class Configs {
  current: Membership;
  /** Index of the entry (or snapshot) `current` came from. */
  currentIndex: number;
  private history: ConfigAt[] = [];
  private base: Membership;
  private baseIndex: number;
  private byId = new Map<NodeId, Member>();

  constructor(base: Membership, baseIndex: number) {
    this.base = base;
    this.baseIndex = baseIndex;
    this.current = base;
    this.currentIndex = baseIndex;
  }

  /** Records the config entries of the durable log (at start); `latest()` is then what is in effect. */
  loadFrom(storage: Storage): void {
    const lo = storage.firstIndex();
    const hi = storage.lastIndex() + 1;
    if (lo >= hi) return;
    const all = storage.entries(lo, hi, Number.MAX_SAFE_INTEGER);
    assert(all.length === hi - lo, `raft invariant: the log at start holds ${all.length} of entries [${lo}, ${hi})`);
    for (const e of all) {
      if (e.type === EntryType.Config && e.config !== undefined) this.push(e.index, e.config);
    }
  }

  /** Makes a membership the one in effect. */
  set(membership: Membership, index: number): void {
    this.current = membership;
    this.currentIndex = index;
    this.byId.clear();
    for (const m of membership.members) this.byId.set(m.id, m);
  }

  /** The newest configuration known (the last config entry, or the base). */
  latest(): ConfigAt {
    return this.history[this.history.length - 1] ?? { index: this.baseIndex, membership: this.base };
  }

  /** A config entry was appended. */
  push(index: number, membership: Membership): void {
    this.history.push({ index, membership });
  }

  /** Forgets config entries at or above `index` (truncated); whether any was. */
  truncateFrom(index: number): boolean {
    let reverted = false;
    while (this.history.length > 0 && (this.history[this.history.length - 1]?.index ?? 0) >= index) {
      this.history.pop();
      reverted = true;
    }
    return reverted;
  }

  /** The configuration in effect at `index` (what a snapshot taken there must carry). */
  at(index: number): Membership {
    let m = this.base;
    for (const c of this.history) {
      if (c.index > index) break;
      m = c.membership;
    }
    return m;
  }

  /** Config entries below the log's first index are gone from the log: fold them into the base. */
  foldCompacted(firstIndex: number): void {
    while (this.history.length > 0 && (this.history[0]?.index ?? Infinity) < firstIndex) {
      const c = this.history.shift() as ConfigAt;
      this.base = c.membership;
      this.baseIndex = c.index;
    }
  }

  /** A snapshot replaced the log: its membership becomes the base and nothing is above it. */
  restore(membership: Membership, index: number): void {
    this.history = [];
    this.base = membership;
    this.baseIndex = index;
  }

  get(id: NodeId): Member | undefined {
    return this.byId.get(id);
  }

  has(id: NodeId): boolean {
    return this.byId.has(id);
  }

  /** A voter with the storage it joined with. */
  isVoter(id: NodeId, storageId: StorageId): boolean {
    const me = this.byId.get(id);
    return me !== undefined && me.role === 'voter' && me.storageId === storageId;
  }

  /** A node whose own storage id differs from the membership's lost its disk: it must not vote. */
  isWiped(id: NodeId, storageId: StorageId): boolean {
    const me = this.byId.get(id);
    return me !== undefined && me.storageId !== '' && me.storageId !== storageId;
  }

  voterCount(): number {
    let n = 0;
    for (const m of this.current.members) if (m.role === 'voter') n++;
    return n;
  }

  /**
   * The membership a change leads to, or why it is refused. `matchOf` gives a member's match index
   * (undefined without progress): a learner is promoted only once it has reached the commit index.
   */
  next(
    change: MembershipChange,
    matchOf: (id: NodeId) => number | undefined,
    committed: number,
  ): Membership | ChangeRefusal {
    const members = this.current.members;
    switch (change.type) {
      case 'addLearner': {
        if (this.byId.has(change.member.id)) return 'invalid';
        return { members: [...members, { ...change.member, role: 'learner' }] };
      }
      case 'promote': {
        const m = this.byId.get(change.id);
        if (m === undefined || m.role !== 'learner') return 'invalid';
        const match = matchOf(change.id);
        if (match === undefined || match < committed) return 'learner-lagging';
        return { members: members.map((x) => (x.id === change.id ? { ...x, role: 'voter' as const } : x)) };
      }
      case 'remove': {
        const m = this.byId.get(change.id);
        if (m === undefined) return 'invalid';
        const rest = members.filter((x) => x.id !== change.id);
        if (!rest.some((x) => x.role === 'voter')) return 'invalid';
        return { members: rest };
      }
      case 'bind':
        return bindMembers(members, change.members);
    }
  }
}
