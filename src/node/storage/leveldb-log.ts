/*
 * A check of LevelDB's own log files (the write-ahead `*.log` and `MANIFEST-*`) before LevelDB opens
 * them. LevelDB recovers a damaged log record by *dropping* it and the rest of its 32 KiB block
 * ("ignoring error ... dropping N bytes" in its LOG), and classic-level exposes no paranoid mode: a
 * flipped bit would silently roll this node's durable state back (acknowledged entries, even its
 * vote: docs/faults.md P10/P11, F7). Our record checksums cannot see records that were dropped whole.
 *
 * Log format (leveldb doc/log_format.md): 32 KiB blocks of records
 *   checksum u32 LE (masked crc32c of type ‖ data) | length u16 LE | type u8 | data
 * with a zero-filled trailer when fewer than 7 bytes remain in a block. A record cut short by the end
 * of the file, or zeros at the end, is a torn final write (never acknowledged, since every write we
 * acknowledge was fsynced first) and is left to LevelDB; any complete record with a bad checksum is
 * damage.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

const BLOCK_BYTES = 32 * 1024;
const HEADER_BYTES = 7;
const TYPE_MAX = 4; // FULL, FIRST, MIDDLE, LAST
const MASK_DELTA = 0xa282ead8;

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli), the checksum LevelDB uses. */
export function crc32c(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let crc = 0xffffffff;
  for (let i = from; i < to; i++) crc = CRC32C_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function unmask(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

export interface LogDamage {
  file: string;
  offset: number;
  reason: string;
}

/** The first damaged record of one log file's bytes, or null if every complete record is intact. */
export function findLogDamage(bytes: Uint8Array, file: string): LogDamage | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let block = 0; block < bytes.length; block += BLOCK_BYTES) {
    const blockEnd = Math.min(block + BLOCK_BYTES, bytes.length);
    let pos = block;
    while (blockEnd - pos >= HEADER_BYTES) {
      const length = view.getUint16(pos + 4, true);
      const type = bytes[pos + 6]!;
      if (type === 0 && length === 0 && isZero(bytes, pos, blockEnd)) break; // preallocated / padding
      const end = pos + HEADER_BYTES + length;
      if (end > blockEnd) {
        // Cut short by the end of the file with nothing valid after it: a torn final write.
        const torn = end > bytes.length && blockEnd === bytes.length && !validRecordAfter(bytes, pos + 1);
        return torn ? null : { file, offset: pos, reason: `record of ${length} bytes crosses its block` };
      }
      if (!validRecordAt(bytes, pos)) {
        const reason = type < 1 || type > TYPE_MAX ? `bad record type ${type}` : 'checksum mismatch';
        return { file, offset: pos, reason };
      }
      pos = end;
    }
  }
  return null;
}

function validRecordAt(bytes: Uint8Array, pos: number): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const blockEnd = Math.min(pos - (pos % BLOCK_BYTES) + BLOCK_BYTES, bytes.length);
  if (blockEnd - pos < HEADER_BYTES) return false;
  const type = bytes[pos + 6]!;
  const end = pos + HEADER_BYTES + view.getUint16(pos + 4, true);
  if (type < 1 || type > TYPE_MAX || end > blockEnd) return false;
  return unmask(view.getUint32(pos, true)) === crc32c(bytes, pos + 6, end);
}

/** Whether any intact record starts at or after `from` (so a short record before it was damage). */
function validRecordAfter(bytes: Uint8Array, from: number): boolean {
  for (let pos = from; pos + HEADER_BYTES <= bytes.length; pos++) if (validRecordAt(bytes, pos)) return true;
  return false;
}

function isZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Checks every write-ahead log and manifest in a LevelDB directory. */
export async function findLevelDbLogDamage(location: string): Promise<LogDamage | null> {
  const names = (await readdir(location)).filter((n) => n.endsWith('.log') || n.startsWith('MANIFEST-')).sort();
  for (const name of names) {
    const damage = findLogDamage(await readFile(join(location, name)), name);
    if (damage !== null) return damage;
  }
  return null;
}
