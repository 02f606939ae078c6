// Hasher.value, str, bytes and int are on the hot path (every session answer, task, payload) and were
// rewritten for speed (issue 11). The digest must not move: this checks them against the original
// implementation, kept here verbatim as the reference, on generated plain values.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Hasher } from '../../../src/statemachine/hash.js';

/** Hasher as it was before issue 11, verbatim but for names: the reference the rewrite must equal. */
class RefHasher {
  a = 0x811c9dc5 | 0;
  b = 0x9747b28c | 0;

  mix(x: number): void {
    this.a = Math.imul(this.a ^ x, 0x01000193);
    this.b = Math.imul((this.b ^ x) + 0x7f4a7c15, 0x5bd1e995);
    this.b ^= this.b >>> 15;
  }

  int(n: number): this {
    this.mix(n | 0);
    this.mix(Math.floor(n / 4294967296) | 0);
    return this;
  }

  tag(t: number): this {
    this.mix(0x7e000000 | t);
    return this;
  }

  str(s: string): this {
    this.mix(s.length);
    for (let i = 0; i < s.length; i++) this.mix(s.charCodeAt(i));
    return this;
  }

  bytes(u: Uint8Array): this {
    this.mix(u.length);
    let i = 0;
    for (; i + 4 <= u.length; i += 4) {
      this.mix(
        (u[i] as number) | ((u[i + 1] as number) << 8) | ((u[i + 2] as number) << 16) | ((u[i + 3] as number) << 24),
      );
    }
    for (; i < u.length; i++) this.mix(u[i] as number);
    return this;
  }

  value(v: unknown): this {
    if (v === undefined) return this.tag(10);
    if (v === null) return this.tag(11);
    if (typeof v === 'boolean') return this.tag(v ? 12 : 13);
    if (typeof v === 'number') return this.tag(14).int(v);
    if (typeof v === 'string') return this.tag(15).str(v);
    if (v instanceof Uint8Array) return this.tag(16).bytes(v);
    if (Array.isArray(v)) {
      this.tag(17).mix(v.length);
      for (const x of v) this.value(x);
      return this;
    }
    if (typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort();
      this.tag(18).mix(keys.length);
      for (const k of keys) this.str(k).value(o[k]);
      return this;
    }
    return this.tag(19);
  }
}

function reference(v: unknown): [number, number] {
  const h = new RefHasher().value(v);
  return [h.a, h.b];
}

function fast(v: unknown): [number, number] {
  const h = new Hasher().value(v);
  return [h.a, h.b];
}

const key = fc.oneof(
  fc.constantFrom('ok', 'value', 'items', 'id', 'token', 'state', 'a', 'B', 'é', '10', '2', ''),
  fc.string({ maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
);
const leaf = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(-1, 0, -0, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32, -(2 ** 32), 1.5, -2.5, NaN),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.uint8Array({ maxLength: 9 }),
  fc.uint8Array({ minLength: 250, maxLength: 260 }),
);
const plain = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.array(tie('v'), { maxLength: 5 }),
    fc.dictionary(key, tie('v'), { maxKeys: 8 }),
    fc.dictionary(key, leaf, { minKeys: 20, maxKeys: 40 }),
  ),
})).v;

describe('Hasher.value', () => {
  it('hashes every plain value exactly as the original implementation', () => {
    fc.assert(
      fc.property(plain, (v) => {
        expect(fast(v)).toEqual(reference(v));
      }),
      { numRuns: 3000 },
    );
  });

  it('answers shaped like the hot path, with keys out of order and undefined fields', () => {
    const answers: unknown[] = [
      { ok: true, value: { items: [{ id: '17', deduplicated: false }] } },
      {
        ok: true,
        value: {
          items: [
            { ok: true, value: { state: 'completed' } },
            { ok: false, error: { code: 'LEASE_LOST', message: 'x' } },
          ],
        },
      },
      {
        ok: true,
        value: {
          tasks: [
            {
              id: '1',
              queue: 'q',
              token: '9',
              headers: { z: '1', a: '2' },
              priority: 0,
              deadlineMono: 5,
              leaseMs: 30000,
              attempts: 0,
              deliveries: 0,
              leases: 1,
              secret: 'abc',
              group: undefined,
            },
          ],
        },
      },
      {
        ok: false,
        error: { code: 'RESOURCE_EXHAUSTED', message: 'm', limit: 'x', retryAfterMs: 100, field: undefined },
      },
      Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${(i * 7) % 30}`, i % 5 === 0 ? undefined : i])),
    ];
    for (const v of answers) {
      expect(fast(v)).toEqual(reference(v));
    }
  });
});
