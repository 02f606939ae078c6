// Hasher.value is on the hot path (every session answer, task headers) and was rewritten for speed
// (issue 11). The digest must not move: this checks it against the original implementation, kept
// here verbatim as the reference, on generated plain values.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Hasher } from '../../../src/statemachine/hash.js';

/** Hasher.value as it was before issue 11 (the reference). */
function reference(h: Hasher, v: unknown): Hasher {
  if (v === undefined) return h.tag(10);
  if (v === null) return h.tag(11);
  if (typeof v === 'boolean') return h.tag(v ? 12 : 13);
  if (typeof v === 'number') return h.tag(14).int(v);
  if (typeof v === 'string') return h.tag(15).str(v);
  if (v instanceof Uint8Array) return h.tag(16).bytes(v);
  if (Array.isArray(v)) {
    h.tag(17);
    mixRaw(h, v.length);
    for (const x of v) reference(h, x);
    return h;
  }
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    h.tag(18);
    mixRaw(h, keys.length);
    for (const k of keys) reference(h.str(k), o[k]);
    return h;
  }
  return h.tag(19);
}

/** Hasher.mix is private: a string's length prefix is exactly one mix of the number, so reuse str's. */
function mixRaw(h: Hasher, n: number): void {
  // str(s) mixes s.length and then each char: hash a string of length n minus its chars is not
  // possible, so recompute mix here with the same constants (checked against str below).
  h.a = Math.imul(h.a ^ n, 0x01000193);
  h.b = Math.imul((h.b ^ n) + 0x7f4a7c15, 0x5bd1e995);
  h.b ^= h.b >>> 15;
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
  fc.string({ maxLength: 8 }),
  fc.uint8Array({ maxLength: 9 }),
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
  it('mixRaw is the hasher mix (a one-char string is a mix of 1 then of the char)', () => {
    const h = new Hasher();
    mixRaw(h, 1);
    mixRaw(h, 65);
    const g = new Hasher().str('A');
    expect([h.a, h.b]).toEqual([g.a, g.b]);
  });

  it('hashes every plain value exactly as the original implementation', () => {
    fc.assert(
      fc.property(plain, (v) => {
        const fast = new Hasher().value(v);
        const ref = reference(new Hasher(), v);
        expect([fast.a, fast.b]).toEqual([ref.a, ref.b]);
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
      const fast = new Hasher().value(v);
      const ref = reference(new Hasher(), v);
      expect([fast.a, fast.b]).toEqual([ref.a, ref.b]);
    }
  });
});
