// Handing leadership over (a leader that is removed or shut down goes first, docs/operations.md).
import type { RaftNode } from '../raft/node.js';
import type { ClockSource } from './log-clock.js';
import type { Timers } from './driver-types.js';

export interface TransferDeps {
  raft: RaftNode;
  clock: ClockSource;
  timers: Timers;
  tickMs: number;
  isVoter(id: string): boolean;
  /** The core has messages to send (TimeoutNow): run the driver loop. */
  kick(): void;
}

/** Hands leadership to the most up-to-date voter; resolves true once another node leads. */
export async function transferLeadership(d: TransferDeps, ms: number): Promise<boolean> {
  const st = d.raft.status();
  if (st.role !== 'leader') return true;
  // A voter heard from recently first, then the most caught-up one.
  const target = st.progress
    .filter((p) => p.id !== st.id && d.isVoter(p.id))
    .sort((a, b) => Number(b.recentActive) - Number(a.recentActive) || b.match - a.match)[0];
  if (!target || !d.raft.transferLeader(target.id).ok) return false;
  d.kick();
  const end = d.clock.monoMs() + ms;
  while (d.clock.monoMs() < end) {
    await new Promise<void>((r) => d.timers.setTimeout(r, d.tickMs));
    const now = d.raft.status();
    if (now.role !== 'leader' && now.leader !== null && now.leader !== st.id) return true;
    // The core abandons a transfer not done within an election timeout: the target is gone, stop waiting.
    if (now.role === 'leader' && now.leadTransferee === null) return false;
  }
  return false;
}
