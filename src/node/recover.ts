// Last-resort recovery from a lost majority (issue 16, docs/operations.md "Disaster recovery"):
// `raftq recover --force-new-cluster` rewrites one stopped survivor's data dir so that it is the only
// voter. Nothing in the log is thrown away: a config entry (members: this node alone, one term above
// everything the node saw) is appended after its last entry, so once started it elects itself and
// commits its whole log — what Raft would do had it won an election. What may be lost: writes the
// lost majority committed that never reached this node. The config entry's data is a JSON marker
// (who, when, what was kept, who was removed), replicated to every member added later, and the node
// logs `membership changed` when it applies it. Never automatic: the CLI demands a confirmation flag,
// and a data dir whose node is still running is refused (LevelDB's lock on it).
import { asLogIndex, asTerm } from '../protocol/ids.js';
import { EntryType, type Entry, type Member, type Membership } from '../raft/types.js';
import { StorageError } from './storage/errors.js';
import { NodeStorage } from './storage/node-storage.js';

export const FORCE_NEW_CLUSTER_MARKER = 'raftq-force-new-cluster';

export class RecoverError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecoverError';
  }
}

/** What recovery kept and changed, as the marker entry records it. */
export interface RecoverReport {
  marker: typeof FORCE_NEW_CLUSTER_MARKER;
  node: string;
  storageId: string;
  clusterId: string;
  at: string;
  /** The survivor's last log entry, kept (and committed once it starts) with everything before it. */
  lastIndex: number;
  lastTerm: number;
  /** The commit index this node knew: entries above it were not known committed, and now will be. */
  knownCommit: number;
  /** The members before (id:role) and the ones removed. */
  before: string[];
  removed: string[];
  /** Index and term of the appended config entry (the marker). */
  markerIndex: number;
  markerTerm: number;
  /** Set when this node's storage had lost state it had promised (docs/faults.md P11). */
  recoveryFloor: { index: number; term: number } | null;
}

/** The membership in effect at the end of the log: its newest config entry, else the snapshot's. */
function membershipOf(ns: NodeStorage): Membership | null {
  const m = ns.mirror;
  for (let i = m.lastIndex(); i >= m.firstIndex(); i--) {
    const [e] = m.entries(i, i + 1, Number.MAX_SAFE_INTEGER);
    if (e?.type === EntryType.Config && e.config !== undefined) return e.config;
  }
  return m.snapshot()?.meta.membership ?? null;
}

async function openStopped(dataDir: string): Promise<NodeStorage> {
  try {
    return await NodeStorage.open(dataDir, { create: false });
  } catch (err) {
    if (err instanceof StorageError && err.code === 'OPEN_FAILED' && /IO error: lock/i.test(err.message))
      throw new RecoverError(
        `${dataDir} is in use (its lock is held): the node is still running; stop it first (recover rewrites a stopped node's data dir only)`,
      );
    if (err instanceof StorageError && err.code === 'NOT_FORMATTED')
      throw new RecoverError(`${dataDir} holds no raftq data: recover runs on a survivor's data dir`);
    throw err;
  }
}

/** Rewrites the stopped node's data dir at `dataDir` into a 1-voter cluster of `id` (or, dry, says how). */
export async function forceNewCluster(o: {
  dataDir: string;
  id: string;
  now?: Date;
  /** Only report what would be done (to compare survivors): nothing is written. */
  dryRun?: boolean;
}): Promise<RecoverReport> {
  const ns = await openStopped(o.dataDir);
  try {
    const { storageId, clusterId } = ns.identity;
    const current = membershipOf(ns);
    const self: Member | undefined = current?.members.find((m) => m.storageId === storageId);
    if (current !== null && self === undefined)
      throw new RecoverError(`this data dir's storage id ${storageId} is not a member of its own last membership`);
    if (self !== undefined && self.id !== o.id)
      throw new RecoverError(`--id: this data dir belongs to member ${self.id}, not ${o.id}`);
    const m = ns.mirror;
    const hs = m.hardState();
    const lastIndex = m.lastIndex();
    const lastTerm = m.term(lastIndex) ?? 0;
    const term = Math.max(hs.term, lastTerm) + 1;
    const members = current?.members ?? [];
    const alone: Member = { ...(self ?? { id: o.id, storageId, address: '' }), role: 'voter' };
    const report: RecoverReport = {
      marker: FORCE_NEW_CLUSTER_MARKER,
      node: o.id,
      storageId,
      clusterId,
      at: (o.now ?? new Date()).toISOString(),
      lastIndex,
      lastTerm,
      knownCommit: hs.commit,
      before: members.map((x) => `${x.id}:${x.role}`).sort(),
      removed: members
        .filter((x) => x.id !== o.id)
        .map((x) => x.id)
        .sort(),
      markerIndex: lastIndex + 1,
      markerTerm: term,
      recoveryFloor: hs.recovery ?? null,
    };
    const entry: Entry = {
      index: asLogIndex(lastIndex + 1),
      term: asTerm(term),
      type: EntryType.Config,
      data: new TextEncoder().encode(JSON.stringify(report)),
      config: { members: [alone] },
    };
    if (o.dryRun === true) return report;
    // No vote: the node campaigns in a later term anyway, and no peer is left to have seen this one.
    await ns.persistReady({
      hardState: { term: entry.term, vote: null, commit: hs.commit },
      entries: [entry],
      snapshot: null,
    });
    return report;
  } finally {
    await ns.close();
  }
}

/** The marker a force-new-cluster config entry carries, or null for any other entry. */
export function recoverMarkerOf(e: Entry): RecoverReport | null {
  if (e.type !== EntryType.Config || e.data.byteLength === 0) return null;
  try {
    const o = JSON.parse(new TextDecoder().decode(e.data)) as Partial<RecoverReport>;
    return o.marker === FORCE_NEW_CLUSTER_MARKER ? (o as RecoverReport) : null;
  } catch {
    return null;
  }
}
