/*
 * The promise file: a second, separately fsynced record of what this node has promised its peers
 * (term, vote, how far its log reached), written after every durable batch of the LevelDB store and
 * before anything that depends on that batch is sent.
 *
 * Why: LevelDB treats a record cut short at the end of its newest log file as a torn write and drops
 * it. A torn write was never acknowledged, but a disk that loses or truncates synced data (docs/faults.md F7)
 * produces the same bytes, and then the node would come back with an older term, vote or log than it
 * promised: a second vote in a term, or an acknowledged entry that is no longer on a majority
 * (docs/faults.md P11). The store stamps each batch with a sequence number and the file records the newest
 * stamp that was durable; a store whose stamp is behind the file's lost synced writes.
 *
 * Layout: two 4 KiB slots written alternately (a torn write spoils at most the one being written),
 * each `magic u32 | length u32 | crc32 u32 | msgpack payload`. The valid slot with the higher
 * sequence number wins; no valid slot at all is damage the node must not guess around.
 *
 * A record may carry the operations of the batch it stamps, and of the unsynced batches before it
 * (`batch`): the store then writes it beside that batch instead of after it (one device round trip per
 * batch on the path instead of two), and recovery that finds LevelDB without them replays them from
 * here (carried-batch.ts; docs/decisions.md "The promise record carries a small batch, written beside
 * it"). Only a batch that fits the slot.
 */
import { constants, write } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { pack, unpack } from 'msgpackr';
import { assert } from '../../protocol/assert.js';
import { asLogIndex, asTerm } from '../../protocol/ids.js';
import type { GroupId, NodeId, RecoveryFloor } from '../../raft/types.js';
import { CorruptionError } from './errors.js';
import { fsyncDir, pathExists } from './fsync.js';

export const PROMISE_FILE = 'promise';
const SLOT_BYTES = 4096;
const HEADER_BYTES = 12;
const MAGIC = 0x52515046; // "RQPF"
/**
 * Every write is durable when it returns (O_DSYNC: the data and the metadata needed to read it, as
 * fdatasync): one call on the thread pool instead of a write and then a datasync, so the batch's
 * completion waits for one event-loop turn fewer on a busy node.
 */
export const PROMISE_OPEN_FLAGS = constants.O_RDWR | constants.O_DSYNC;

/** What one group's node had promised when a batch became durable. */
export interface GroupPromise {
  term: number;
  vote: NodeId | null;
  /** The last index of its log (or of its snapshot, if the log is empty), and that entry's term. */
  lastIndex: number;
  lastTerm: number;
  recovery?: RecoveryFloor;
}

/** A batch's operations as the promise file carries them: [key, value] for a put, [key, null] for a delete. */
export type CarriedOp = [Uint8Array, Uint8Array | null];

export interface PromiseRecord {
  /** The stamp of the newest durable batch (0: none yet). */
  seq: number;
  groups: [GroupId, GroupPromise][];
  /** The operations of batch `seq` (and the unsynced batches before it), when written beside it. */
  batch?: CarriedOp[];
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

function asFloor(x: unknown): RecoveryFloor | undefined | null {
  if (x === undefined) return undefined;
  if (typeof x !== 'object' || x === null) return null;
  const r = x as Record<string, unknown>;
  return isCount(r.index) && isCount(r.term) ? { index: asLogIndex(r.index), term: asTerm(r.term) } : null;
}

function asRecord(x: unknown): PromiseRecord | null {
  if (typeof x !== 'object' || x === null) return null;
  const r = x as Record<string, unknown>;
  if (!isCount(r.seq) || !Array.isArray(r.groups)) return null;
  const groups: [GroupId, GroupPromise][] = [];
  for (const item of r.groups as unknown[]) {
    if (!Array.isArray(item) || item.length !== 2 || !isCount(item[0])) return null;
    const p = item[1] as Record<string, unknown> | null;
    if (typeof p !== 'object' || p === null || !isCount(p.term) || !isCount(p.lastIndex)) return null;
    if (!isCount(p.lastTerm)) return null;
    if (p.vote !== null && typeof p.vote !== 'string') return null;
    const recovery = asFloor(p.recovery);
    if (recovery === null) return null;
    groups.push([
      item[0],
      { term: p.term, vote: p.vote, lastIndex: p.lastIndex, lastTerm: p.lastTerm, ...(recovery ? { recovery } : {}) },
    ]);
  }
  if (r.batch === undefined) return { seq: r.seq, groups };
  const batch = asBatch(r.batch);
  return batch === null ? null : { seq: r.seq, groups, batch };
}

function asBatch(x: unknown): CarriedOp[] | null {
  if (!Array.isArray(x)) return null;
  const out: CarriedOp[] = [];
  for (const op of x as unknown[]) {
    if (!Array.isArray(op) || op.length !== 2 || !(op[0] instanceof Uint8Array)) return null;
    if (op[1] !== null && !(op[1] instanceof Uint8Array)) return null;
    out.push([op[0], op[1] as Uint8Array | null]);
  }
  return out;
}

/** The most payload bytes a slot holds. */
export const SLOT_PAYLOAD_MAX = SLOT_BYTES - HEADER_BYTES;

export function encodeSlot(record: PromiseRecord): Buffer {
  const payload = pack(record);
  if (payload.length > SLOT_PAYLOAD_MAX) throw new RangeError('promise record too large');
  const slot = Buffer.alloc(SLOT_BYTES);
  fillSlot(payload, slot);
  return slot;
}

/** Fills a SLOT_BYTES buffer (a reused one too): the bytes past the payload are zeroed, as in a fresh slot. */
function fillSlot(payload: Buffer, slot: Buffer): void {
  slot.writeUInt32LE(MAGIC, 0);
  slot.writeUInt32LE(payload.length, 4);
  slot.writeUInt32LE(crc32(payload), 8);
  payload.copy(slot, HEADER_BYTES);
  slot.fill(0, HEADER_BYTES + payload.length);
}

/** The record in one slot's bytes, or null if the slot is torn or damaged. */
export function decodeSlot(bytes: Uint8Array): PromiseRecord | null {
  if (bytes.length < HEADER_BYTES) return null;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = b.readUInt32LE(4);
  if (b.readUInt32LE(0) !== MAGIC || length > SLOT_BYTES - HEADER_BYTES || HEADER_BYTES + length > b.length) {
    return null;
  }
  const payload = b.subarray(HEADER_BYTES, HEADER_BYTES + length);
  if (crc32(payload) !== b.readUInt32LE(8)) return null;
  try {
    return asRecord(unpack(payload));
  } catch {
    return null;
  }
}

export class PromiseFile {
  private nextSlot: number;
  /**
   * One buffer per slot, reused: a write per durable batch allocated a fresh zeroed 4 KiB and went
   * through the FileHandle promise machinery, garbage on every batch of a busy node. Writes never
   * overlap (the store's write queue runs them one at a time), which `writing` asserts.
   */
  private readonly slots = [Buffer.alloc(SLOT_BYTES), Buffer.alloc(SLOT_BYTES)] as const;
  private writing = false;

  private constructor(
    private readonly handle: FileHandle,
    /** The newest valid record found at open (seq 0 for a new file). */
    readonly current: PromiseRecord,
    currentSlot: number,
  ) {
    this.nextSlot = 1 - currentSlot;
  }

  /** Opens the file in `dir`, creating it (durably, both slots valid) if it does not exist. */
  static async open(dir: string): Promise<PromiseFile> {
    const path = join(dir, PROMISE_FILE);
    if (!(await pathExists(path))) {
      const empty = encodeSlot({ seq: 0, groups: [] });
      const h = await open(path, 'wx');
      try {
        await h.write(Buffer.concat([empty, empty]), 0, SLOT_BYTES * 2, 0);
        await h.sync();
      } finally {
        await h.close();
      }
      await fsyncDir(dir);
    }
    const handle = await open(path, PROMISE_OPEN_FLAGS);
    try {
      const bytes = Buffer.alloc(SLOT_BYTES * 2);
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
      const a = decodeSlot(bytes.subarray(0, Math.min(bytesRead, SLOT_BYTES)));
      const b = bytesRead > SLOT_BYTES ? decodeSlot(bytes.subarray(SLOT_BYTES, bytesRead)) : null;
      if (a === null && b === null) {
        throw new CorruptionError(
          `promise file ${path} is damaged in both slots: this node cannot know what it promised; ` +
            'it must not vote or serve: restore it from a peer',
        );
      }
      const useB = b !== null && (a === null || b.seq > a.seq);
      return new PromiseFile(handle, (useB ? b : a) as PromiseRecord, useB ? 1 : 0);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Writes the record to the older slot, durably (PROMISE_OPEN_FLAGS). */
  async write(record: PromiseRecord): Promise<void> {
    const written = this.tryWrite(record);
    if (written === null) throw new RangeError('promise record too large');
    await written;
  }

  /** As write(), or null (nothing written) when the record does not fit a slot. */
  tryWrite(record: PromiseRecord): Promise<void> | null {
    assert(!this.writing, 'promise file: a write while another is in flight');
    const payload = pack(record);
    if (payload.length > SLOT_PAYLOAD_MAX) return null;
    fillSlot(payload, this.slots[this.nextSlot === 0 ? 0 : 1]);
    return this.writeEncoded();
  }

  private async writeEncoded(): Promise<void> {
    const slot = this.slots[this.nextSlot === 0 ? 0 : 1];
    this.writing = true;
    let bytesWritten: number;
    try {
      bytesWritten = await this.writeAt(slot, this.nextSlot * SLOT_BYTES);
    } finally {
      this.writing = false;
    }
    if (bytesWritten !== SLOT_BYTES)
      throw new Error(`promise file: short write (${bytesWritten} of ${SLOT_BYTES} bytes)`);
    this.nextSlot = 1 - this.nextSlot;
  }

  private writeAt(slot: Buffer, position: number): Promise<number> {
    return new Promise((resolve, reject) => {
      write(this.handle.fd, slot, 0, SLOT_BYTES, position, (error, written) =>
        error === null ? resolve(written) : reject(error),
      );
    });
  }

  /** The open file's descriptor (a test reads its flags in /proc to check O_DSYNC). */
  get fd(): number {
    return this.handle.fd;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
