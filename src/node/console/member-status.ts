// The other members' own view of themselves, for the console's cluster table (issue 15): each member
// answers with its term, commit and applied indexes and its fsync latency, which no other node
// knows. Asked over the peer port (peer.proto ClientForward.Status, under the cluster secret and the
// peer port's TLS), so it works with client auth and client TLS on (docs/decisions.md). Polled only
// while the console is in use (at most once a second), each call bounded; a member that does not
// answer is shown as unknown.
import type { FsyncSummary } from '../../rpc/executor.js';
import type { ForwardSender } from '../../rpc/forward-link.js';
import { decodeMemberStatus, encodeStatusRequest } from '../../rpc/member-status-codec.js';

export interface MemberStatusSource {
  status(member: { id: string; address: string }, timeoutMs: number): Promise<unknown>;
  close(): void;
}

/** Status calls over the peer port's forwarding link (the node's own: closing this leaves it open). */
export function peerMemberStatus(link: ForwardSender): MemberStatusSource {
  return {
    status: async (m, ms) => decodeMemberStatus(await link.send('Status', m.id, encodeStatusRequest(), ms)),
    close: () => undefined,
  };
}

export interface RemoteStatus {
  term: number;
  commitIndex: number;
  appliedIndex: number;
  fsync: FsyncSummary | null;
  /** Whether the member is repairing a storage loss, and up to where (null: it is not). */
  recovering: { index: number; term: number } | null;
}

const POLL_MS = 1_000;
const CALL_MS = 1_500;
/** A report older than this is not shown (the member stopped answering). */
const FRESH_MS = 5_000;

export class MemberStatuses {
  private readonly seen = new Map<string, { at: number; status: RemoteStatus }>();
  private lastPoll = -Infinity;
  private polling = false;

  constructor(
    private readonly src: MemberStatusSource,
    private readonly now: () => number,
  ) {}

  /** Asks every listed member for its status, unless a poll is running or ran within the last second. */
  poll(members: { id: string; address: string }[]): void {
    const now = this.now();
    if (this.polling || now - this.lastPoll < POLL_MS) return;
    this.polling = true;
    this.lastPoll = now;
    const calls = members.map(async (m) => {
      const status = parse(await this.src.status(m, CALL_MS).catch(() => null), m.id);
      if (status !== null) this.seen.set(m.id, { at: this.now(), status });
    });
    void Promise.all(calls).finally(() => (this.polling = false));
  }

  /** The member's last report, if recent. */
  get(id: string): RemoteStatus | null {
    const s = this.seen.get(id);
    return s !== undefined && this.now() - s.at <= FRESH_MS ? s.status : null;
  }
}

function num(v: unknown): number | null {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : null;
}

/** A Status reply, if it is the member's (an address may have been taken over by another node). */
function parse(v: unknown, id: string): RemoteStatus | null {
  if (typeof v !== 'object' || v === null) return null;
  const s = v as Record<string, unknown>;
  const [term, commitIndex, appliedIndex] = [num(s['term']), num(s['commitIndex']), num(s['appliedIndex'])];
  if (s['id'] !== id || term === null || commitIndex === null || appliedIndex === null) return null;
  return { term, commitIndex, appliedIndex, fsync: fsyncOf(s['fsync']), recovering: recoveringOf(s['recovering']) };
}

function recoveringOf(v: unknown): { index: number; term: number } | null {
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  const [index, term] = [num(r['index']), num(r['term'])];
  return index === null || term === null ? null : { index, term };
}

function fsyncOf(v: unknown): FsyncSummary | null {
  if (typeof v !== 'object' || v === null) return null;
  const f = v as Record<string, unknown>;
  const out = {
    writes: num(f['writes']),
    p50Ms: num(f['p50Ms']),
    p99Ms: num(f['p99Ms']),
    maxMs: num(f['maxMs']),
    windowMs: num(f['windowMs']),
  };
  return Object.values(out).every((x) => x !== null) && (out.writes ?? 0) > 0 ? (out as FsyncSummary) : null;
}
