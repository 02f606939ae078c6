// The node's status as the driver sees it (/status, the Status RPC, the console, members list).
import type { MemberStatus, NodeStatus } from '../rpc/executor.js';
import type { DriverOptions } from './driver-types.js';

export interface StatusView {
  applied: number;
  ready: boolean;
  isVoter(id: string): boolean;
  addressOf(id: string | null): string | null;
}

export function nodeStatus(o: DriverOptions, v: StatusView): NodeStatus {
  const st = o.raft.status();
  const role: MemberStatus['role'] = st.role === 'follower' && !v.isVoter(st.id) ? 'learner' : st.role;
  const members: MemberStatus[] = st.membership.members.map((m) => {
    const pr = st.progress.find((p) => p.id === m.id);
    const self = m.id === st.id;
    return {
      id: m.id,
      address: m.address,
      role: self ? role : m.id === st.leader ? 'leader' : m.role === 'learner' ? 'learner' : 'follower',
      term: st.term,
      commitIndex: self ? st.commit : 0,
      appliedIndex: self ? v.applied : 0,
      ...(pr ? { matchIndex: pr.match } : {}),
    };
  });
  const ticks = o.electionTicks;
  return {
    id: st.id,
    clusterId: o.clusterId,
    leader: st.leader,
    leaderAddress: v.addressOf(st.leader),
    role,
    term: st.term,
    commitIndex: st.commit,
    appliedIndex: v.applied,
    ready: v.ready,
    ...(st.recovering ? { recovering: st.recovering } : {}),
    ...(ticks !== undefined ? { electionTimeoutMs: { min: ticks * o.tickMs, max: 2 * ticks * o.tickMs } } : {}),
    members,
    ...(o.fsyncSummary ? { fsync: o.fsyncSummary() } : {}),
    smMax: o.sm.smMax,
    activeVersion: o.sm.activeVersion(),
  };
}
