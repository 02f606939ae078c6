/*
 * Snapshot data files: `<dataDir>/snapshots/<index>-<term>.snap`.
 *
 * A snapshot is written to `<index>-<term>.tmp`, fsynced, renamed, and the directory fsynced, so a
 * `.snap` name always holds a complete file; a `.tmp` left by a crash is removed on open and never
 * read (NATS #8101); a local snapshot streams to `<index>-<term>.local.tmp` (snapshot-stream.ts).
 * Layout: a 28-byte header, the msgpack SnapshotMeta, then the data.
 *   0 'RQSN' | 4 version u8 | 5 zero ×3 | 8 metaBytes u32 | 12 dataBytes u64 | 20 crc32(data) u32
 *   | 24 crc32(header[0..24) ‖ meta) u32
 * The order the node must keep: write the file, then record its meta in the DurableStore
 * (persist / recordSnapshot), then compact the log.
 */
import { crc32 } from 'node:zlib';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import type { Snapshot, SnapshotMeta } from '../../raft/types.js';
import { CorruptionError } from './errors.js';
import { fsyncDir, pathExists } from './fsync.js';
import { asSnapshotMeta, snapshotMetaPayload } from './records.js';

const MAGIC = Uint8Array.of(0x52, 0x51, 0x53, 0x4e); // "RQSN"
const VERSION = 1;
const HEADER_BYTES = 28;
const TWO_32 = 0x1_0000_0000;
const NAME = /^(\d+)-(\d+)\.(snap|tmp)$/;
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export interface SnapshotFileInfo {
  index: number;
  term: number;
  path: string;
}

export class SnapshotFiles {
  /** The snapshot the durable store points at: never pruned, whatever was written after it. */
  private inUse: { index: number; term: number } | null = null;
  private readonly pinned = new Map<string, number>();

  private constructor(
    readonly dir: string,
    private readonly keep: number,
    /** `.tmp` files found (and removed) by open(): crash leftovers. */
    readonly removedTemporaries: string[],
  ) {}

  /** Opens `<dataDir>/snapshots`, creating it, and removes temporary files. Keeps the newest `keep` (≥ 1). */
  static async open(dataDir: string, options: { keep?: number } = {}): Promise<SnapshotFiles> {
    const keep = options.keep ?? 2;
    if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be ≥ 1, got ${keep}`);
    const dir = join(dataDir, 'snapshots');
    const existed = await pathExists(dir);
    await mkdir(dir, { recursive: true });
    if (!existed) await fsyncDir(dataDir);
    const removed: string[] = [];
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.tmp')) continue;
      await unlink(join(dir, name));
      removed.push(name);
    }
    if (removed.length > 0) await fsyncDir(dir);
    return new SnapshotFiles(dir, keep, removed);
  }

  /** Complete snapshot files, oldest first. */
  async list(): Promise<SnapshotFileInfo[]> {
    const files: SnapshotFileInfo[] = [];
    for (const name of await readdir(this.dir)) {
      const match = NAME.exec(name);
      if (match === null || match[3] !== 'snap') continue;
      files.push({ index: Number(match[1]), term: Number(match[2]), path: join(this.dir, name) });
    }
    return files.sort((a, b) => a.index - b.index || a.term - b.term);
  }

  /**
   * Starts a snapshot file; chunks may arrive over time (InstallSnapshot, a streamed local snapshot).
   * `tag` names the temporary file apart (`<index>-<term><tag>.tmp`), so a local snapshot being
   * streamed and a leader's being installed at the same index never share one.
   */
  async begin(meta: SnapshotMeta, tag = ''): Promise<SnapshotWriter> {
    assertMeta(meta);
    if (!/^(\.[a-z]+)?$/.test(tag)) throw new RangeError(`bad temporary file tag ${tag}`);
    const base = `${meta.index}-${meta.term}`;
    const tmp = join(this.dir, `${base}${tag}.tmp`);
    const handle = await open(tmp, 'w');
    const metaBytes = packr.pack(snapshotMetaPayload(meta));
    try {
      await handle.write(metaBytes, 0, metaBytes.length, HEADER_BYTES);
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw error;
    }
    return new SnapshotWriter(this, handle, tmp, join(this.dir, `${base}.snap`), metaBytes);
  }

  /** Writes a whole snapshot durably (tmp, fsync, rename, fsync dir) and prunes old ones. */
  async write(snapshot: Snapshot): Promise<SnapshotFileInfo> {
    const writer = await this.begin(snapshot.meta);
    try {
      // In slices: the checksum of a large state (hundreds of MiB) would hold the event loop at once.
      const data = snapshot.data;
      let off = 0;
      do {
        await writer.append(data.subarray(off, off + WRITE_SLICE_BYTES));
        off += WRITE_SLICE_BYTES;
      } while (off < data.length);
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return writer.commit();
  }

  /** Where the snapshot at `index`/`term` lives once durable. */
  pathOf(index: number, term: number): string {
    return join(this.dir, `${index}-${term}.snap`);
  }

  /** Loads and verifies a snapshot file. A missing or damaged file is a CorruptionError. */
  async load(index: number, term: number): Promise<Snapshot> {
    const path = this.pathOf(index, term);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new CorruptionError(`snapshot file ${path} is missing`, index);
      }
      throw error;
    }
    const snapshot = decodeSnapshotFile(bytes, path);
    if (snapshot.meta.index !== index || snapshot.meta.term !== term) {
      throw new CorruptionError(`snapshot file ${path} holds ${snapshot.meta.index}-${snapshot.meta.term}`, index);
    }
    return snapshot;
  }

  /** Names the snapshot recorded in the durable store (set it before writing newer ones). */
  setInUse(snapshot: { index: number; term: number } | null): void {
    this.inUse = snapshot === null ? null : { index: snapshot.index, term: snapshot.term };
  }

  /** A file someone may still read (a file-backed snapshot alive in memory): prune keeps it. */
  pin(path: string): void {
    this.pinned.set(path, (this.pinned.get(path) ?? 0) + 1);
  }

  unpin(path: string): void {
    const n = (this.pinned.get(path) ?? 0) - 1;
    if (n > 0) this.pinned.set(path, n);
    else this.pinned.delete(path);
  }

  /** Deletes all but the newest `keep` snapshot files, the one in use and pinned ones. */
  async prune(): Promise<string[]> {
    const files = await this.list();
    const inUse = this.inUse;
    const old = files
      .slice(0, Math.max(0, files.length - this.keep))
      .filter((f) => inUse === null || f.index !== inUse.index || f.term !== inUse.term)
      .filter((f) => !this.pinned.has(f.path));
    for (const file of old) await unlink(file.path);
    if (old.length > 0) await fsyncDir(this.dir);
    return old.map((f) => f.path);
  }
}

const WRITE_SLICE_BYTES = 4 * 1024 * 1024;

export class SnapshotWriter {
  private dataBytes = 0;
  private dataCrc = 0;
  private done = false;

  constructor(
    private readonly files: SnapshotFiles,
    private readonly handle: FileHandle,
    private readonly tmpPath: string,
    private readonly finalPath: string,
    private readonly metaBytes: Uint8Array,
  ) {}

  async append(chunk: Uint8Array): Promise<void> {
    if (this.done) throw new Error(`snapshot writer ${this.tmpPath} is finished`);
    const position = HEADER_BYTES + this.metaBytes.length + this.dataBytes;
    let written = 0;
    for (let round = 0; written < chunk.length; round++) {
      if (round > chunk.length) throw new Error(`short writes to ${this.tmpPath} made no progress`);
      const { bytesWritten } = await this.handle.write(chunk, written, chunk.length - written, position + written);
      written += bytesWritten;
    }
    this.dataCrc = crc32(chunk, this.dataCrc);
    this.dataBytes += chunk.length;
  }

  /** Fsyncs the data written so far (a large file's bulk, before commit's short ordered part). */
  async syncData(): Promise<void> {
    if (this.done) throw new Error(`snapshot writer ${this.tmpPath} is finished`);
    await this.handle.sync();
  }

  /** Seals the header, fsyncs, renames into place, fsyncs the directory, prunes. */
  async commit(): Promise<SnapshotFileInfo> {
    if (this.done) throw new Error(`snapshot writer ${this.tmpPath} is finished`);
    this.done = true;
    try {
      const header = encodeHeader(this.metaBytes, this.dataBytes, this.dataCrc);
      await this.handle.write(header, 0, header.length, 0);
      await this.handle.sync();
      await this.handle.close();
      await rename(this.tmpPath, this.finalPath);
      await fsyncDir(this.files.dir);
    } catch (error) {
      await this.handle.close().catch(() => undefined);
      await unlink(this.tmpPath).catch(() => undefined);
      throw error;
    }
    await this.files.prune();
    const match = NAME.exec(this.finalPath.slice(this.files.dir.length + 1));
    return { index: Number(match?.[1]), term: Number(match?.[2]), path: this.finalPath };
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.handle.close().catch(() => undefined);
    await unlink(this.tmpPath).catch(() => undefined);
  }
}

function assertMeta(meta: SnapshotMeta): void {
  if (!Number.isSafeInteger(meta.index) || meta.index < 1 || !Number.isSafeInteger(meta.term) || meta.term < 1) {
    throw new RangeError(`bad snapshot meta ${meta.index}-${meta.term}`);
  }
}

function encodeHeader(metaBytes: Uint8Array, dataBytes: number, dataCrc: number): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  header.set(MAGIC, 0);
  header[4] = VERSION;
  view.setUint32(8, metaBytes.length);
  view.setUint32(12, Math.floor(dataBytes / TWO_32));
  view.setUint32(16, dataBytes >>> 0);
  view.setUint32(20, dataCrc);
  view.setUint32(24, crc32(metaBytes, crc32(header.subarray(0, 24))));
  return header;
}

/** Verifies every checksum of a snapshot file's bytes. */
export function decodeSnapshotFile(bytes: Uint8Array, path: string): Snapshot {
  const damaged = (what: string): CorruptionError => new CorruptionError(`snapshot file ${path} is damaged: ${what}`);
  if (bytes.length < HEADER_BYTES) throw damaged(`only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!MAGIC.every((b, i) => bytes[i] === b)) throw damaged('bad magic');
  if (bytes[4] !== VERSION) throw damaged(`unknown version ${bytes[4]}`);
  const metaLength = view.getUint32(8);
  const dataLength = view.getUint32(12) * TWO_32 + view.getUint32(16);
  if (HEADER_BYTES + metaLength + dataLength !== bytes.length) {
    throw damaged(`length ${bytes.length} ≠ ${HEADER_BYTES} + ${metaLength} + ${dataLength}`);
  }
  const metaBytes = bytes.subarray(HEADER_BYTES, HEADER_BYTES + metaLength);
  if (crc32(metaBytes, crc32(bytes.subarray(0, 24))) !== view.getUint32(24)) throw damaged('header checksum');
  const data = bytes.subarray(HEADER_BYTES + metaLength);
  if (crc32(data) !== view.getUint32(20)) throw damaged('data checksum');
  let meta: SnapshotMeta | null;
  try {
    meta = asSnapshotMeta(packr.unpack(metaBytes));
  } catch {
    meta = null;
  }
  if (meta === null) throw damaged('undecodable meta');
  // A view, not a copy: the file's bytes are read once (a large state is hundreds of MiB).
  return { meta, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
