// Leader → follower log replication: Appends within each follower's flow-control window (pipelined in
// replicate state, one at a time while probing) and heartbeats that carry the commit index.

import type { RaftConfig } from './config.js';
import type { RaftLog } from './log.js';
import type { Progress } from './progress.js';
import { CompactedError, MessageType, UnavailableError } from './types.js';
import type { Entry, Message, NodeId } from './types.js';

/** A message as the core composes it; `RaftNode.send` fills in the header. */
export type Outgoing = Omit<Message, 'group' | 'from' | 'fromStorage' | 'term'> & { term?: number };

/**
 * Sends Appends to one follower while its flow-control window allows. `sendIfEmpty`: send even with
 * no entries (the follower learns the commit index). Returns false when the entries the follower
 * needs are compacted: it must get a snapshot instead. Entries whose data is not in memory are not
 * sent now (nothing is).
 */
export function sendAppends(
  pr: Progress,
  log: RaftLog,
  cfg: Pick<RaftConfig, 'maxInflight' | 'maxMsgBytes'>,
  sendIfEmpty: boolean,
  send: (m: Outgoing) => void,
): boolean {
  const last = log.lastIndex();
  for (let round = 0; round < cfg.maxInflight; round++) {
    if (pr.isPaused()) return true;
    const prevIndex = pr.next - 1;
    const prevTerm = log.term(prevIndex);
    if (prevTerm === undefined) return false;
    let entries: Entry[];
    try {
      entries = log.slice(pr.next, last + 1, cfg.maxMsgBytes);
    } catch (e) {
      // Still in the log but not in memory: the driver reads it back, and a later round sends it (the
      // follower's next heartbeat answer, or its next Append answer).
      if (e instanceof UnavailableError) return true;
      if (!(e instanceof CompactedError)) throw e;
      return false;
    }
    if (entries.length === 0 && !sendIfEmpty) return true;
    send({ type: MessageType.Append, to: pr.id, index: prevIndex, logTerm: prevTerm, entries, commit: log.committed });
    const lastSent = entries[entries.length - 1];
    // A follower commits no further than the last entry of the Append it accepts.
    pr.commitSent = Math.max(pr.commitSent, Math.min(log.committed, lastSent?.index ?? prevIndex));
    if (pr.state === 'replicate' && lastSent !== undefined) {
      pr.next = lastSent.index + 1;
      pr.inflights.add(lastSent.index);
    } else {
      pr.probeSent = true;
    }
    if (pr.state !== 'replicate' || pr.next > last) return true;
    sendIfEmpty = false;
  }
  return true;
}

/** Heartbeats to every follower; `context` > 0 numbers a ReadIndex round. */
export function sendHeartbeats(
  prs: Iterable<Progress>,
  self: NodeId,
  committed: number,
  context: number,
  send: (m: Outgoing) => void,
): void {
  for (const pr of prs) {
    if (pr.id === self) continue;
    // A follower may not hold entries up to our commit yet: never tell it more than it matched.
    const msg: Outgoing = { type: MessageType.Heartbeat, to: pr.id, commit: Math.min(pr.match, committed) };
    if (context > 0) msg.context = context;
    pr.commitSent = Math.max(pr.commitSent, msg.commit ?? 0);
    send(msg);
  }
}
