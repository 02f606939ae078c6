// Typed storage errors. The node maps each to an action: CORRUPTION and FAILED stop the node
// (it must neither vote nor serve), CLUSTER_MISMATCH / NOT_FORMATTED are one-line config errors.

export type StorageErrorCode =
  'CORRUPTION' | 'CLUSTER_MISMATCH' | 'NOT_FORMATTED' | 'UNSUPPORTED_FORMAT' | 'OPEN_FAILED' | 'CLOSED' | 'FAILED';

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}

/** A checksum mismatch or a missing record that recovery may not repair (docs/faults.md P11). */
export class CorruptionError extends StorageError {
  constructor(
    message: string,
    /** The log index concerned, when the damage is a log record. */
    readonly index: number | null = null,
  ) {
    super('CORRUPTION', message);
    this.name = 'CorruptionError';
  }
}

/** The data dir was formatted for another cluster (docs/design.md §5). */
export class ClusterMismatchError extends StorageError {
  constructor(
    readonly expected: string,
    readonly found: string,
    dir: string,
  ) {
    super('CLUSTER_MISMATCH', `data dir ${dir} belongs to cluster ${found}, not ${expected}`);
    this.name = 'ClusterMismatchError';
  }
}

export class NotFormattedError extends StorageError {
  constructor(dir: string) {
    super('NOT_FORMATTED', `data dir ${dir} is not formatted (no identity record)`);
    this.name = 'NotFormattedError';
  }
}

/**
 * A write or fsync failed: the page cache state is unknown (docs/faults.md P12), so the store refuses
 * every later call; the node must stop and recover from disk.
 */
export class StoreFailedError extends StorageError {
  constructor(cause: unknown) {
    super('FAILED', `storage failed: ${describe(cause)}; the node must stop and recover from disk`, { cause });
    this.name = 'StoreFailedError';
  }
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
