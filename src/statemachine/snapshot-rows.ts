// A snapshot's task chunks, `['tasks', rows]`, written without msgpackr's generic packer. Taking a
// snapshot of 1,000,000 waiting tasks spent 3.8 s of a leader's CPU in msgpackr (session 33): its
// packer checks every value's type through call sites that see everything the node encodes. Rows
// hold few kinds of values, and this writer knows them: null, booleans, numbers, ASCII strings, bytes,
// arrays and plain objects. A row holding anything else (undefined, a non-ASCII string, another
// class, a Buffer) is packed by msgpackr instead. Either way the bytes are msgpackr's: a property test
// compares the two, and hot-path-pin pins a snapshot's bytes.
import { encode } from '../protocol/index.js';

const STR_HEAD_MAX = 5;
const INITIAL_BYTES = 256 * 1024;

export class RowWriter {
  private buf = new Uint8Array(INITIAL_BYTES);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  constructor(
    /** Planted bug (tests only): a byte string's length is written one short. */
    private readonly plantShortBin = false,
    /** A buffer of at least n bytes for a chunk (the node's are reused once written). */
    private readonly alloc: (n: number) => Uint8Array = (n) => new Uint8Array(n),
  ) {}

  /** `['tasks', rows]`, as msgpackr encodes it, in a buffer from `alloc` (the scratch is reused). */
  chunk(rows: readonly unknown[]): Uint8Array {
    this.pos = 0;
    this.arrayHead(2);
    this.ascii('tasks');
    this.arrayHead(rows.length);
    for (const row of rows) {
      const at = this.pos;
      if (this.value(row)) continue;
      // Something this writer does not know: msgpackr's bytes for the row, in its place.
      this.pos = at;
      const packed = encode(row);
      this.room(packed.byteLength);
      this.buf.set(packed, this.pos);
      this.pos += packed.byteLength;
    }
    const out = this.alloc(this.pos).subarray(0, this.pos);
    out.set(this.buf.subarray(0, this.pos));
    return out;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Writes `v`; false (and a partial write the caller discards) when it is not a kind this writer knows. */
  private value(v: unknown): boolean {
    switch (typeof v) {
      case 'number':
        this.number(v);
        return true;
      case 'string':
        return this.ascii(v);
      case 'boolean':
        this.room(1);
        this.buf[this.pos++] = v ? 0xc3 : 0xc2;
        return true;
      case 'object':
        return this.object(v);
      default:
        return false;
    }
  }

  private object(v: object | null): boolean {
    if (v === null) {
      this.room(1);
      this.buf[this.pos++] = 0xc0;
      return true;
    }
    const c = v.constructor;
    if (c === Array) {
      const a = v as unknown[];
      this.arrayHead(a.length);
      for (let i = 0; i < a.length; i++) if (!this.value(a[i])) return false;
      return true;
    }
    if (c === Object) {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      this.head(keys.length, 0x80, 0xde);
      for (const k of keys) if (!this.ascii(k) || !this.value(o[k])) return false;
      return true;
    }
    // A task's bytes are Uint8Arrays (payloads.ts); anything else, a Buffer too, goes to msgpackr.
    return c === Uint8Array ? this.bytes(v as Uint8Array) : false;
  }

  private number(v: number): void {
    this.room(9);
    const b = this.buf;
    if (v >>> 0 === v) {
      if (v < 0x80) b[this.pos++] = v;
      else if (v < 0x100) {
        b[this.pos++] = 0xcc;
        b[this.pos++] = v;
      } else if (v < 0x10000) {
        b[this.pos++] = 0xcd;
        this.view.setUint16(this.pos, v);
        this.pos += 2;
      } else {
        b[this.pos++] = 0xce;
        this.view.setUint32(this.pos, v);
        this.pos += 4;
      }
    } else if (v >> 0 === v) {
      if (v >= -0x20) b[this.pos++] = 0x100 + v;
      else if (v >= -0x80) {
        b[this.pos++] = 0xd0;
        b[this.pos++] = v + 0x100;
      } else if (v >= -0x8000) {
        b[this.pos++] = 0xd1;
        this.view.setInt16(this.pos, v);
        this.pos += 2;
      } else {
        b[this.pos++] = 0xd2;
        this.view.setInt32(this.pos, v);
        this.pos += 4;
      }
    } else {
      b[this.pos++] = 0xcb;
      this.view.setFloat64(this.pos, v);
      this.pos += 8;
    }
  }

  /** An ASCII string (msgpackr writes other characters in ways of its own: those rows go to it). */
  private ascii(s: string): boolean {
    const n = s.length;
    this.room(n + STR_HEAD_MAX);
    if (n < 0x20) this.buf[this.pos++] = 0xa0 | n;
    else if (n < 0x100) {
      this.buf[this.pos++] = 0xd9;
      this.buf[this.pos++] = n;
    } else this.sized(n, 0xda);
    const b = this.buf;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return false;
      b[this.pos++] = c;
    }
    return true;
  }

  private bytes(v: Uint8Array): boolean {
    const n = v.byteLength;
    this.room(n + 5);
    const len = this.plantShortBin && n > 0 ? n - 1 : n;
    if (len < 0x100) {
      this.buf[this.pos++] = 0xc4;
      this.buf[this.pos++] = len;
    } else this.sized(len, 0xc5);
    this.buf.set(v, this.pos);
    this.pos += n;
    return true;
  }

  private arrayHead(n: number): void {
    this.head(n, 0x90, 0xdc);
  }

  /** A fix-sized header below 16, else the 16- or 32-bit form (`code16`, then the next code). */
  private head(n: number, fix: number, code16: number): void {
    this.room(5);
    if (n < 0x10) this.buf[this.pos++] = fix | n;
    else this.sized(n, code16);
  }

  /** `code16` and a 16-bit length below 65,536, else the next code and a 32-bit length. */
  private sized(n: number, code16: number): void {
    if (n < 0x10000) {
      this.buf[this.pos++] = code16;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = code16 + 1;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }
}
