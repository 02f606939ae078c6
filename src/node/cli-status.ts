// `raftq status` and `raftq members`. A value a command could not learn is shown as unknown (null
// under --json, "-" in tables), never as 0; wire-only fields (proto-loader's `_matchIndex` oneof
// markers) are not shown.
import { Command } from 'commander';
import type { Client } from '../client/client.js';
import { RaftqError } from '../client/errors.js';
import { action, asList, print, serversOf, table, withCommon, type SetCode } from './cli-common.js';

interface MemberRow {
  id: string;
  address: string;
  role: string;
  term: number | null;
  commitIndex: number | null;
  appliedIndex: number | null;
  /** The node's own durable writes over the last minute (null: unknown, or none in it). */
  fsync?: { writes: number; p50Ms: number; p99Ms: number; maxMs: number } | null;
  /** The highest state machine version it runs, and the active one as it applied (issue 16; null: unknown). */
  smMax?: number | null;
  activeVersion?: number | null;
}

type Status = Record<string, unknown>;

function numOrNull(v: unknown): number | null {
  if (v === undefined || v === null) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

async function statuses(client: Client, addresses: string[]): Promise<Array<Status | null>> {
  return Promise.all(addresses.map((a) => client.nodeStatus(a, { timeoutMs: 3_000 }).catch(() => null)));
}

/** A node's own row, from its own Status answer. */
function ownRow(address: string, s: Status): MemberRow {
  return {
    id: String(s['id']),
    address,
    role: String(s['role']),
    term: numOrNull(s['term']),
    commitIndex: numOrNull(s['commitIndex']),
    appliedIndex: numOrNull(s['appliedIndex']),
    fsync: fsyncOf(s['fsync']),
    smMax: numOrNull(s['smMax']),
    activeVersion: numOrNull(s['activeVersion']),
  };
}

function fsyncOf(v: unknown): MemberRow['fsync'] {
  if (typeof v !== 'object' || v === null) return null;
  const f = v as Record<string, unknown>;
  const [writes, p50Ms, p99Ms, maxMs] = [
    numOrNull(f['writes']),
    numOrNull(f['p50Ms']),
    numOrNull(f['p99Ms']),
    numOrNull(f['maxMs']),
  ];
  if (writes === null || p50Ms === null || p99Ms === null || maxMs === null || writes === 0) return null;
  return { writes, p50Ms, p99Ms, maxMs };
}

/** "p50/p99 ms" of a member's fsync latency, '-' unknown. */
function fsyncCell(m: MemberRow): string {
  return m.fsync ? `${m.fsync.p50Ms}/${m.fsync.p99Ms} ms` : '-';
}

async function clusterStatus(
  client: Client,
  servers: string[],
): Promise<{ leader: string | null; members: MemberRow[] }> {
  const answers = await statuses(client, servers);
  const known = new Map<string, string>(); // address -> id, from any reachable node's membership
  for (const s of answers) for (const m of asList(s?.['members'])) known.set(String(m['address']), String(m['id']));
  let leader: string | null = null;
  let leaderTerm = -1;
  const members = servers.map((address, i): MemberRow => {
    const s = answers[i];
    if (s === null || s === undefined) {
      const id = known.get(address) ?? address;
      return { id, address, role: 'unreachable', term: null, commitIndex: null, appliedIndex: null };
    }
    const term = Number(s['term'] ?? 0);
    if (typeof s['leader'] === 'string' && s['leader'] !== '' && term > leaderTerm) {
      leader = s['leader'];
      leaderTerm = term;
    }
    return ownRow(address, s);
  });
  return { leader, members };
}

export function statusCommand(setCode: SetCode): Command {
  return withCommon(new Command('status'))
    .description("every server's view: role, term, commit and applied index, fsync latency (last minute)")
    .action(
      action(setCode, async (client, o) => {
        const st = await clusterStatus(client, serversOf(o));
        print(o, st, () => {
          const rows = st.members.map((m) => [
            m.id,
            m.address,
            m.role,
            m.term,
            m.commitIndex,
            m.appliedIndex,
            fsyncCell(m),
          ]);
          const head = ['ID', 'ADDRESS', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'FSYNC P50/P99'];
          return `leader: ${st.leader ?? 'none'}\n${table(head, rows)}`;
        });
        return st.members.every((m) => m.role === 'unreachable') ? 1 : 0;
      }),
    );
}

/** The membership as `view` sees it, each member's own numbers filled in where it answered. */
export function memberRows(view: Status, own: Map<string, Status>): Array<MemberRow & { matchIndex: number | null }> {
  return asList(view['members']).map((m) => {
    const id = String(m['id']);
    const address = String(m['address']);
    const s = own.get(id);
    const row: MemberRow = s
      ? ownRow(address, s)
      : { id, address, role: String(m['role']), term: null, commitIndex: null, appliedIndex: null, smMax: null };
    return { ...row, matchIndex: numOrNull(m['matchIndex']) };
  });
}

export function membersCommand(setCode: SetCode): Command {
  return withCommon(new Command('members'))
    .description('the cluster membership as the leader (or the first reachable node) sees it')
    .action(
      action(setCode, async (client, o) => {
        const servers = serversOf(o);
        const answers = await statuses(client, servers);
        const view = answers.find((s) => s?.['role'] === 'leader') ?? answers.find((s) => s !== null);
        if (view === null || view === undefined)
          throw new RaftqError({ code: 'UNAVAILABLE', message: `no server reachable (tried ${servers.join(', ')})` });
        // Ask the members we were not given too: each node knows only its own indexes.
        const others = asList(view['members'])
          .map((m) => String(m['address']))
          .filter((a) => !servers.includes(a));
        const own = new Map<string, Status>();
        for (const s of [...answers, ...(await statuses(client, others))]) if (s) own.set(String(s['id']), s);
        const members = memberRows(view, own);
        print(o, { from: view['id'], members }, () =>
          table(
            ['ID', 'ADDRESS', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'MATCH', 'SM_MAX', 'SM_ACTIVE'],
            members.map((m) => [
              m.id,
              m.address,
              m.role,
              m.term,
              m.commitIndex,
              m.appliedIndex,
              m.matchIndex,
              m.smMax ?? null,
              m.activeVersion ?? null,
            ]),
          ),
        );
      }),
    );
}
