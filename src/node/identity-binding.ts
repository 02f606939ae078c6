// Bootstrap identity (docs/design.md §5): peers present their storage id and advertised address on every
// message; the leader commits them into the membership as soon as it has heard them, so that a member
// that later comes back with a wiped disk is not counted for votes or commits. It also says, once per
// change, when identities disagree.
import type { RaftNode } from '../raft/node.js';
import type { Message } from '../raft/types.js';
import type { DriverLogger } from './driver-types.js';

export class IdentityBinding {
  /** Identities peers presented (storage id, advertised address), for binding the bootstrap membership. */
  private readonly learned = new Map<string, { storageId: string; address: string }>();
  private bindAttemptTick = 0;
  private reportedAt = 0;
  private reportedMismatches = 0;
  private reportedMismatchKey = '';
  private reportedWiped = false;
  private reportedAddressedAsOther = false;
  private reportedRecovering: { index: number; term: number } | null;
  private unboundCache: { at: number; value: boolean } | null = null;

  constructor(
    private readonly raft: RaftNode,
    private readonly log: DriverLogger,
    private readonly advertise: string | undefined,
  ) {
    this.reportedRecovering = raft.recovering;
  }

  /** Notes the identity a peer message presents. */
  learn(msg: Message): void {
    if (typeof msg?.from !== 'string' || typeof msg.fromStorage !== 'string') return;
    const known = this.learned.get(msg.from);
    if (!known || known.storageId !== msg.fromStorage || (msg.fromAddress && known.address !== msg.fromAddress)) {
      this.learned.set(msg.from, { storageId: msg.fromStorage, address: msg.fromAddress ?? known?.address ?? '' });
    }
  }

  /** Whether the effective membership still has a member without a storage id or an address. */
  unbound(): boolean {
    const at = this.raft.effectiveConfigIndex;
    if (this.unboundCache?.at !== at) {
      const members = this.raft.status().membership.members;
      this.unboundCache = { at, value: members.some((m) => m.storageId === '' || m.address === '') };
    }
    return this.unboundCache.value;
  }

  /** Leader only: proposes the identities heard so far, at most every 5 ticks while some are missing. */
  maybeBind(ticks: number, isLeader: boolean): void {
    if (!isLeader || ticks - this.bindAttemptTick < 5 || !this.unbound()) return;
    this.bindAttemptTick = ticks;
    const st = this.raft.status();
    const members = st.membership.members.map((m) => {
      const l =
        m.id === st.id ? { storageId: st.storageId, address: this.advertise ?? m.address } : this.learned.get(m.id);
      return {
        ...m,
        storageId: m.storageId !== '' ? m.storageId : (l?.storageId ?? ''),
        address: l?.address ? l.address : m.address,
      };
    });
    const r = this.raft.changeMembership({ type: 'bind', members });
    if (r.ok)
      this.log.info({ index: r.index, members: members.map((m) => [m.id, m.storageId]) }, 'binding member identities');
  }

  /** Says, once per change, when storage identities disagree (docs/design.md §5): a wiped disk is not a voter. */
  report(ticks: number): void {
    // Ticks may come several at once (the driver sleeps while idle): every 20 ticks, not each 20th.
    if (ticks - this.reportedAt < 20) return;
    this.reportedAt = ticks;
    this.reportMismatches();
    const st = this.raft.status();
    const me = st.membership.members.find((m) => m.id === st.id);
    const wiped = me !== undefined && me.storageId !== '' && me.storageId !== st.storageId;
    if (wiped && !this.reportedWiped) {
      this.log.error(
        { storageId: st.storageId, membershipStorageId: me.storageId, term: st.term },
        'this node was formatted anew (its data dir was wiped): the cluster knows it by another storage id, so it will not vote or count for commits until an operator replaces it',
      );
    }
    this.reportedWiped = wiped;
    // Before any membership reaches it, a wiped node learns its old identity from how peers address it.
    const otherIdentity = this.raft.stats.addressedToOtherStorage > 0;
    if (otherIdentity && !wiped && !this.reportedAddressedAsOther) {
      this.log.error(
        { storageId: st.storageId, term: st.term },
        'peers address this node by another storage id (its data dir was wiped or replaced): they will not count it for votes or commits until an operator replaces it',
      );
    }
    this.reportedAddressedAsOther = otherIdentity || this.reportedAddressedAsOther;
    const recovering = this.raft.recovering;
    if (recovering === null && this.reportedRecovering !== null) {
      this.log.info(
        { floor: this.reportedRecovering, commit: st.commit, term: st.term },
        'caught up after the storage loss: voting again',
      );
    }
    this.reportedRecovering = recovering;
  }

  private reportMismatches(): void {
    const mismatches = this.raft.stats.storageMismatch;
    if (mismatches <= this.reportedMismatches) return;
    this.reportedMismatches = mismatches;
    const members = this.raft.status().membership.members;
    const wrong = members
      .map((m) => ({ id: m.id, expected: m.storageId, presented: this.learned.get(m.id)?.storageId ?? '' }))
      .filter((x) => x.expected !== '' && x.presented !== '' && x.expected !== x.presented);
    const key = JSON.stringify(wrong);
    if (wrong.length > 0 && key !== this.reportedMismatchKey) {
      this.reportedMismatchKey = key;
      this.log.warn(
        { members: wrong },
        'refusing votes and acknowledgements from a member whose storage id does not match the membership (its data dir was wiped or replaced); it is not counted until an operator replaces it',
      );
    }
  }
}
