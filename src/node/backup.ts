// Backup and restore (issue 16, docs/operations.md "Backup and restore"). A backup is the state
// machine snapshot the leader holds right after a linearizable read barrier: it contains every write
// acknowledged before the backup began. The file is one JSON header line (format, version, source
// cluster, index, term, state digest, payload length, SHA-256 over the header and the payload) then
// the snapshot bytes. A restore writes that snapshot into a fresh data dir as the Raft snapshot a
// NEW cluster starts from: a new cluster id (never the backup's, so the old cluster's nodes are never
// taken for members), the log continuing above the backup's index, sessions and idempotency keys kept.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { RaftNode } from '../raft/node.js';
import type { Membership, Snapshot } from '../raft/types.js';
import { QueueStateMachine } from '../statemachine/index.js';
import { SM_MAX, SmVersionError } from '../statemachine/version.js';
import { MembersError } from './admin-members.js';
import type { NodeDriver } from './driver.js';
import { systemClock } from './log-clock.js';
import { NodeStorage } from './storage/node-storage.js';
import { asLogIndex, asTerm } from '../protocol/ids.js';

export const BACKUP_FORMAT = 'raftq-backup';
/** Bumped when the file layout changes; a reader refuses a newer one and reads every older one. */
export const BACKUP_VERSION = 1;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  version: number;
  clusterId: string;
  /** The applied index the snapshot was taken at, and its term. */
  index: number;
  term: number;
  /** The state machine digest at `index` (the same on every replica at that index). */
  digest: string;
  createdAt: string;
  bytes: number;
  /** Hex SHA-256 of the header (without this field) as written, a newline, then the payload. */
  sha256: string;
}

export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupError';
  }
}

function checksum(headerLine: string, payload: Uint8Array): string {
  return createHash('sha256').update(headerLine).update('\n').update(payload).digest('hex');
}

/** Serialises a backup: header line, newline, payload. */
export function encodeBackup(
  h: Omit<BackupHeader, 'format' | 'version' | 'bytes' | 'sha256'>,
  payload: Uint8Array,
): Buffer {
  const base = { format: BACKUP_FORMAT, version: BACKUP_VERSION, ...h, bytes: payload.byteLength };
  const line = JSON.stringify(base);
  const header = JSON.stringify({ ...base, sha256: checksum(line, payload) });
  return Buffer.concat([Buffer.from(header + '\n'), payload]);
}

/** Parses and checks a backup file's bytes; every problem is a BackupError that says what is wrong. */
export function decodeBackup(file: Uint8Array): { header: BackupHeader; payload: Uint8Array } {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const nl = buf.indexOf(0x0a);
  if (nl < 0 || nl > 64 * 1024) throw new BackupError('not a raftq backup (no header line)');
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(buf.subarray(0, nl).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new BackupError('not a raftq backup (the header is not JSON)');
  }
  if (h['format'] !== BACKUP_FORMAT) throw new BackupError('not a raftq backup (format)');
  const version = h['version'];
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1)
    throw new BackupError('backup header: version is missing');
  if (version > BACKUP_VERSION)
    throw new BackupError(
      `backup format version ${version} is newer than this raftq reads (${BACKUP_VERSION}): restore it with a newer raftq`,
    );
  for (const k of ['index', 'term', 'bytes'] as const)
    if (typeof h[k] !== 'number' || !Number.isSafeInteger(h[k]) || (h[k] as number) < 0)
      throw new BackupError(`backup header: ${k} is not a non-negative integer`);
  for (const k of ['clusterId', 'digest', 'createdAt', 'sha256'] as const)
    if (typeof h[k] !== 'string') throw new BackupError(`backup header: ${k} is missing`);
  const payload = buf.subarray(nl + 1);
  if (payload.byteLength !== h['bytes'])
    throw new BackupError(
      `backup is truncated or padded: ${payload.byteLength} payload bytes, header says ${String(h['bytes'])}`,
    );
  const { sha256, ...base } = h;
  if (checksum(JSON.stringify(base), payload) !== sha256)
    throw new BackupError('backup checksum mismatch: the file is damaged');
  return { header: h as unknown as BackupHeader, payload: new Uint8Array(payload) };
}

/** Leader only: a read barrier, then the state machine snapshot at the applied index, as a backup file. */
export async function takeBackup(d: {
  raft: RaftNode;
  driver: NodeDriver;
  sm: QueueStateMachine;
  clusterId: string;
}): Promise<{ file: Buffer; header: BackupHeader }> {
  if (d.raft.currentRole !== 'leader')
    throw new MembersError(
      'NOT_LEADER',
      `${d.raft.id} is not the leader (leader: ${d.raft.leader ?? 'unknown'})`,
      d.raft.leader,
    );
  const barrier = await d.driver.read(
    { type: 'queues' },
    { consistency: 'linearizable', deadline: systemClock.monoMs() + 5_000 },
  );
  if (!barrier.answer.ok) throw new MembersError('NOT_LEADER', `read barrier failed: ${barrier.answer.error.message}`);
  // Synchronous from here: the snapshot, the index and the digest describe one state.
  const payload = Buffer.concat([...d.sm.snapshot()]);
  const index = d.sm.appliedIndex();
  const term = d.raft.termAt(index) ?? d.raft.currentTerm;
  const digest = d.sm.digest();
  const h = { clusterId: d.clusterId, index, term, digest, createdAt: new Date().toISOString() };
  const file = encodeBackup(h, payload);
  return { file, header: decodeBackup(file).header };
}

export interface RestoreOptions {
  file: string;
  dataDir: string;
  id: string;
  /** The new cluster's member ids (the same list for every member restored). */
  peers: string[];
  clusterId: string;
  /** The cap of the raftq restoring (default SM_MAX): a backup of a higher state machine version is refused. */
  smMax?: number;
}

/**
 * Seeds a fresh data dir of a new cluster from a backup: the snapshot at the backup's index becomes
 * the Raft snapshot (committed), and the members of `peers` the bootstrap membership.
 */
export async function restoreBackup(o: RestoreOptions): Promise<BackupHeader> {
  const { header, payload } = decodeBackup(readFileSync(o.file));
  if (o.clusterId === header.clusterId)
    throw new BackupError(
      `--cluster-id: "${o.clusterId}" is the backed-up cluster's id; a restore seeds a NEW cluster (choose another id) so that it can never join the old one`,
    );
  if (!o.peers.includes(o.id)) throw new BackupError(`--id: "${o.id}" is not among --peers`);
  if (existsSync(o.dataDir) && readdirSync(o.dataDir).length > 0)
    throw new BackupError(`--data-dir: ${o.dataDir} is not empty; restore only into a new, empty data dir`);
  const sm = new QueueStateMachine({ smMax: o.smMax ?? SM_MAX });
  try {
    sm.restore(payload);
  } catch (e) {
    // Same message as a member stopping on it (issue 16): restore it with a newer raftq.
    if (e instanceof SmVersionError) throw new BackupError(e.message);
    throw e;
  }
  if (sm.digest() !== header.digest)
    throw new BackupError('the restored state does not match the digest in the backup header');
  const ns = await NodeStorage.open(o.dataDir, { clusterId: o.clusterId });
  try {
    const membership: Membership = {
      members: [...o.peers].sort().map((id) => ({
        id,
        storageId: id === o.id ? ns.identity.storageId : '',
        address: '',
        role: 'voter' as const,
      })),
    };
    const snapshot: Snapshot = {
      meta: { group: 0, index: asLogIndex(header.index), term: asTerm(header.term), membership },
      data: payload,
    };
    await ns.persistReady({
      snapshot,
      entries: [],
      hardState: { term: asTerm(header.term), vote: null, commit: asLogIndex(header.index) },
    });
  } finally {
    await ns.close();
  }
  return header;
}

/** The admin route `GET /admin/backup`: the backup file (leader only; NOT_LEADER elsewhere). */
export function backupRoutes(
  d: Parameters<typeof takeBackup>[0],
): Record<string, (body: string) => Promise<{ status: number; body: unknown }>> {
  return {
    'GET /admin/backup': async () => {
      try {
        return { status: 200, body: (await takeBackup(d)).file };
      } catch (err) {
        if (!(err instanceof MembersError)) throw err;
        return { status: 421, body: { ok: false, code: err.code, message: err.message } };
      }
    },
  };
}
