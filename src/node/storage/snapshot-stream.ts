/*
 * A snapshot streamed to its file as the state machine's chunks are taken (NodeStorage.beginSnapshot).
 * Before, the node concatenated every chunk into one buffer and wrote that: at 1,000,000 waiting tasks
 * the chunks, their concatenation and the copy the mirror kept were each ≈ 280 MiB beside the live
 * state. Now a chunk is written (to `<index>-<term>.local.tmp`, in order, checksummed as it goes) and
 * dropped; the producer waits when more than a budget is queued.
 *
 * Crash safety is SnapshotFiles' order, kept by `commit`: wait for every queued write, fsync the data,
 * then in NodeStorage's write order seal the header (sizes, checksums), fsync the file, rename it to
 * `.snap`, fsync the directory; only then record its meta in the durable store and compact the log. A crash before the
 * rename leaves a `.tmp` that the next open removes; the store never names a file that is not whole.
 */
import type { SnapshotSink } from '../driver-types.js';
import type { LogIndex } from '../../protocol/ids.js';
import type { SnapshotMeta } from '../../raft/types.js';
import type { SnapshotWriter } from './snapshot-files.js';

/** What the stream needs of a snapshot file's writer (SnapshotWriter; a fake in tests). */
export type FileWriter = Pick<SnapshotWriter, 'append' | 'syncData' | 'commit' | 'abort'>;

export interface StreamedSnapshotDeps {
  files: { begin(meta: SnapshotMeta, tag: string): Promise<FileWriter> };
  meta: SnapshotMeta;
  /**
   * In NodeStorage's write order: `commitFile()` (header, fsync, rename, directory fsync), and only
   * after it the meta recorded and the log compacted.
   */
  seal(commitFile: () => Promise<unknown>, dataBytes: number, options: { compactTo?: LogIndex }): Promise<void>;
  /** A write failed: the disk's state is unknown (docs/faults.md P12). Returns the error to report. */
  failed(error: unknown): unknown;
  /** Planted bug (tests only): commit seals the file without waiting for the queued writes. */
  plantCommitEarly?: boolean;
}

export class StreamedSnapshot implements SnapshotSink {
  private pending = 0;
  /** Bytes of every chunk given to write(), written or not. */
  private given = 0;
  private written = 0;
  private error: unknown = null;
  private aborted = false;
  /** The open writer, after every write queued so far (writes run one after another, in order). */
  private tail: Promise<FileWriter | null>;
  private readonly writer: Promise<FileWriter | null>;

  constructor(private readonly d: StreamedSnapshotDeps) {
    this.writer = d.files.begin(d.meta, '.local').catch((e: unknown) => this.fail(e));
    this.tail = this.writer;
  }

  get pendingBytes(): number {
    return this.pending;
  }

  /** Writes finish in order: what was given and is no longer pending is in the file (or dropped). */
  get releasedBytes(): number {
    return this.given - this.pending;
  }

  write(chunk: Uint8Array): void {
    this.given += chunk.byteLength;
    if (this.aborted) return;
    this.pending += chunk.byteLength;
    this.tail = this.tail.then(async (w) => {
      try {
        if (w !== null && this.error === null && !this.aborted) {
          await w.append(chunk);
          this.written += chunk.byteLength;
        }
      } catch (e) {
        this.fail(e);
      } finally {
        this.pending -= chunk.byteLength;
      }
      return w;
    });
  }

  async drained(): Promise<void> {
    await this.tail;
  }

  async commit(options: { compactTo?: LogIndex }): Promise<void> {
    if (this.aborted) throw new Error(`snapshot ${this.d.meta.index} was abandoned`);
    const w = this.d.plantCommitEarly === true ? await this.writer : await this.tail;
    if (this.error !== null || w === null) {
      await w?.abort();
      throw this.d.failed(this.error);
    }
    try {
      // The bulk of the fsync, before the ordered part: later log writes do not wait behind it.
      await w.syncData();
    } catch (e) {
      throw this.d.failed(e);
    }
    await this.d.seal(() => w.commit(), this.written, options);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    // Behind the queued writes (each sees `aborted` and skips); drained() resolves once it is gone.
    this.tail = this.tail.then(async (w) => {
      await w?.abort();
      return null;
    });
  }

  private fail(e: unknown): null {
    if (this.error === null) this.error = e;
    return null;
  }
}
