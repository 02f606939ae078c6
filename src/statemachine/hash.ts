// A canonical, order-independent digest. Each record (task, queue, session, key) hashes to two
// independent 32-bit lanes over a fixed, key-sorted field order; the state's digest is the sum of
// record hashes mod 2^32 per lane, so it is updated incrementally: subtract a record's hash before
// a change, add it after. Only integers, strings and bytes are hashed: no floats, no Map order.

const P1 = 0x01000193;
const P2 = 0x5bd1e995;

export class Hasher {
  a = 0x811c9dc5 | 0;
  b = 0x9747b28c | 0;

  reset(): this {
    this.a = 0x811c9dc5 | 0;
    this.b = 0x9747b28c | 0;
    return this;
  }

  /** Resume from a saved state (a record's constant prefix hashed once). */
  resume(a: number, b: number): this {
    this.a = a;
    this.b = b;
    return this;
  }

  private mix(x: number): void {
    this.a = Math.imul(this.a ^ x, P1);
    this.b = Math.imul((this.b ^ x) + 0x7f4a7c15, P2);
    this.b ^= this.b >>> 15;
  }

  /** A safe integer (negative allowed), or -1 sentinel-free: null/undefined hash as a distinct tag. */
  int(n: number): this {
    const lo = n | 0;
    this.mix(lo);
    // The high word is floor(n / 2^32): for an int32 its sign, without the float division.
    this.mix(lo === n ? lo >> 31 : Math.floor(n / 4294967296) | 0);
    return this;
  }

  tag(t: number): this {
    this.mix(0x7e000000 | t);
    return this;
  }

  opt(n: number | undefined | null): this {
    if (n === undefined || n === null) return this.tag(1);
    return this.tag(2).int(n);
  }

  str(s: string): this {
    this.mix(s.length);
    // mix() per char, with the lanes in locals (hot: every key of every hashed answer).
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < s.length; i++) {
      const x = s.charCodeAt(i);
      a = Math.imul(a ^ x, P1);
      b = Math.imul((b ^ x) + 0x7f4a7c15, P2);
      b ^= b >>> 15;
    }
    this.a = a;
    this.b = b;
    return this;
  }

  optStr(s: string | undefined | null): this {
    if (s === undefined || s === null) return this.tag(1);
    return this.tag(3).str(s);
  }

  bytes(u: Uint8Array): this {
    this.mix(u.length);
    // mix() per 4-byte word, with the lanes in locals (hot: every enqueued payload).
    let a = this.a;
    let b = this.b;
    let i = 0;
    for (; i + 4 <= u.length; i += 4) {
      const x =
        (u[i] as number) | ((u[i + 1] as number) << 8) | ((u[i + 2] as number) << 16) | ((u[i + 3] as number) << 24);
      a = Math.imul(a ^ x, P1);
      b = Math.imul((b ^ x) + 0x7f4a7c15, P2);
      b ^= b >>> 15;
    }
    this.a = a;
    this.b = b;
    for (; i < u.length; i++) this.mix(u[i] as number);
    return this;
  }

  /**
   * Any plain value (answers, settings): canonical with sorted object keys. On the hot path (every
   * session answer is hashed): tests by frequency, and sorts keys in place without a filtered copy.
   */
  value(v: unknown): this {
    if (typeof v === 'object') {
      if (v === null) return this.tag(11);
      if (Array.isArray(v)) {
        this.tag(17).mix(v.length);
        for (let i = 0; i < v.length; i++) this.value(v[i]);
        return this;
      }
      if (v instanceof Uint8Array) return this.tag(16).bytes(v);
      return this.object(v as Record<string, unknown>);
    }
    if (typeof v === 'string') return this.tag(15).str(v);
    if (typeof v === 'number') return this.tag(14).int(v);
    if (typeof v === 'boolean') return this.tag(v ? 12 : 13);
    if (v === undefined) return this.tag(10);
    return this.tag(19);
  }

  /** The defined keys in code-unit order (as Array#sort), each key then its value. */
  private object(o: Record<string, unknown>): this {
    const keys = Object.keys(o);
    let defined = 0;
    if (keys.length > SMALL_OBJECT) keys.sort();
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      if (o[k] !== undefined) defined++;
      if (keys.length > SMALL_OBJECT) continue;
      let j = i - 1;
      for (; j >= 0 && (keys[j] as string) > k; j--) keys[j + 1] = keys[j] as string;
      keys[j + 1] = k;
    }
    this.tag(18).mix(defined);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      const x = o[k];
      if (x !== undefined) this.str(k).value(x);
    }
    return this;
  }
}

/** Objects up to this many keys are insertion-sorted (answers, headers); larger ones use Array#sort. */
const SMALL_OBJECT = 24;

/** Sum of record hashes per lane, mod 2^32. */
export class DigestSum {
  a = 0;
  b = 0;

  add(h: Hasher): void {
    this.a = (this.a + h.a) | 0;
    this.b = (this.b + h.b) | 0;
  }

  sub(h: Hasher): void {
    this.a = (this.a - h.a) | 0;
    this.b = (this.b - h.b) | 0;
  }

  addPair(a: number, b: number): void {
    this.a = (this.a + a) | 0;
    this.b = (this.b + b) | 0;
  }

  subPair(a: number, b: number): void {
    this.a = (this.a - a) | 0;
    this.b = (this.b - b) | 0;
  }
}

export function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** A stable 32-bit hash of a few integers (deterministic jitter). */
export function hashInts(...xs: number[]): number {
  const h = new Hasher();
  for (const x of xs) h.int(x);
  return h.a >>> 0;
}
