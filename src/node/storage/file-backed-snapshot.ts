// A snapshot whose bytes stay in their file once it is durable. The Raft storage mirror must hand the
// core a snapshot synchronously (to send it to a follower that needs it), but holding its bytes
// costs as much memory as the state itself (≈ 280 MiB at 1,000,000 waiting tasks). So the mirror
// keeps this instead: `data` reads and checks the file when asked, and keeps the bytes while they are
// in use (a transfer reads a chunk per message) and for a while after. The file stays on disk while
// the object lives (the mirror, or a transfer to a slow follower, holds it): prune skips pinned files.
import { readFileSync } from 'node:fs';
import type { Snapshot, SnapshotMeta } from '../../raft/types.js';
import { decodeSnapshotFile, type SnapshotFiles } from './snapshot-files.js';

const unpinWhenGone = new FinalizationRegistry<{ files: SnapshotFiles; path: string }>(({ files, path }) =>
  files.unpin(path),
);

/** How long loaded bytes stay after their last use (a transfer asks for them at every chunk). */
const KEEP_MS = 30_000;

export class FileBackedSnapshot implements Snapshot {
  private bytes: Uint8Array | null;
  private lastUse = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  private readonly path: string;

  constructor(
    readonly meta: SnapshotMeta,
    files: SnapshotFiles,
    /** Size of `data`, known without reading the file. */
    readonly dataBytes: number,
    loaded: Uint8Array | null = null,
  ) {
    this.path = files.pathOf(meta.index, meta.term);
    files.pin(this.path);
    unpinWhenGone.register(this, { files, path: this.path });
    this.bytes = loaded;
    if (loaded !== null) this.touch();
  }

  /** The snapshot's bytes: read from the file (all checksums verified) unless still loaded. */
  get data(): Uint8Array {
    if (this.bytes === null) {
      const snap = decodeSnapshotFile(readFileSync(this.path), this.path);
      if (snap.meta.index !== this.meta.index || snap.meta.term !== this.meta.term) {
        throw new Error(`snapshot file ${this.path} holds ${snap.meta.index}-${snap.meta.term}`);
      }
      this.bytes = snap.data;
    }
    this.touch();
    return this.bytes;
  }

  private touch(): void {
    this.lastUse = Date.now();
    if (this.timer !== null) return;
    const check = (): void => {
      const idle = Date.now() - this.lastUse;
      if (idle >= KEEP_MS) {
        this.bytes = null;
        this.timer = null;
      } else {
        this.timer = setTimeout(check, KEEP_MS - idle);
        this.timer.unref();
      }
    };
    this.timer = setTimeout(check, KEEP_MS);
    this.timer.unref();
  }
}

/** A snapshot's size without reading a file-backed one's file. */
export function snapshotDataBytes(s: Snapshot | null): number {
  if (s === null) return 0;
  return s instanceof FileBackedSnapshot ? s.dataBytes : s.data.byteLength;
}
