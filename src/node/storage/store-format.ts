// The data dir's format: its identity record (cluster id, storage id, format version), written once
// when an empty dir is formatted and checked on every open.
import { randomUUID } from 'node:crypto';
import { ClusterMismatchError, CorruptionError, NotFormattedError, StorageError, describe } from './errors.js';
import { put } from './group-log.js';
import type { KvStore } from './kv.js';
import { FORMAT_VERSION, IDENTITY_KEY, PROMISE_SEQ_KEY, asIdentity, decodeRecord } from './records.js';
import type { IdentityRecord } from './records.js';

export type Identity = IdentityRecord;

/** Reads the identity, or formats an empty store (its batch stamps start at `seq`). */
export async function loadOrFormat(
  kv: KvStore,
  dir: string,
  clusterId: string | undefined,
  create: boolean,
  seq: number,
): Promise<{ identity: Identity; formatted: boolean }> {
  const raw = await kv.get(IDENTITY_KEY);
  if (raw === undefined) {
    const any = await kv.range({ gte: Uint8Array.of(0x00), lt: Uint8Array.of(0xff), limit: 1 });
    if (any.length > 0) throw new CorruptionError(`data dir ${dir} holds records but no identity record`);
    if (!create) throw new NotFormattedError(dir);
    const identity: Identity = {
      clusterId: clusterId ?? randomUUID(),
      storageId: randomUUID(),
      formatVersion: FORMAT_VERSION,
    };
    await kv.batch([put(IDENTITY_KEY, identity), put(PROMISE_SEQ_KEY, { seq })], { sync: true });
    return { identity, formatted: true };
  }
  const decoded = decodeRecord(IDENTITY_KEY, raw);
  const identity = decoded.ok ? asIdentity(decoded.payload) : null;
  if (identity === null) throw new CorruptionError(`identity record of data dir ${dir} is damaged`);
  if (identity.formatVersion > FORMAT_VERSION) {
    throw new StorageError(
      'UNSUPPORTED_FORMAT',
      `${dir} holds data format version ${identity.formatVersion}, newer than this raftq supports ` +
        `(versions 1 to ${FORMAT_VERSION}): it was written by a newer raftq; run that release (or newer) on it`,
    );
  }
  if (clusterId !== undefined && clusterId !== identity.clusterId) {
    throw new ClusterMismatchError(clusterId, identity.clusterId, dir);
  }
  return { identity, formatted: false };
}

export function describeOpenError(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  return cause === undefined ? describe(error) : `${describe(error)} (${describe(cause)})`;
}
