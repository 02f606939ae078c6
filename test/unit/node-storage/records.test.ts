import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeRecord,
  encodeRecord,
  entryIndexOf,
  entryKey,
  entryKeyEnd,
  hardStateKey,
  logStartKey,
} from '../../../src/node/storage/records.js';

const compare = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b);
const index = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const group = fc.integer({ min: 0, max: 0xffff_ffff });

describe('node-storage - key layout', () => {
  it('sorts entry keys numerically and decodes them back', () => {
    fc.assert(
      fc.property(group, index, index, (g, a, b) => {
        expect(Math.sign(compare(entryKey(g, a), entryKey(g, b)))).toBe(Math.sign(a - b));
        expect(entryIndexOf(g, entryKey(g, a))).toBe(a);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps every group in its own key range, entries after the group records', () => {
    fc.assert(
      fc.property(group, group, index, (g, h, i) => {
        const key = entryKey(g, i);
        expect(compare(key, entryKeyEnd(g))).toBeLessThan(0);
        expect(compare(logStartKey(g), key)).toBeLessThan(0);
        if (g !== h) expect(entryIndexOf(h, key)).toBeNull();
        if (g < h) expect(compare(entryKeyEnd(g), hardStateKey(h))).toBeLessThanOrEqual(0);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('node-storage - record checksums', () => {
  it('round-trips a payload and detects any single flipped bit or a record moved to another key', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (payload, i, at, bit) => {
          const key = entryKey(0, i);
          const value = encodeRecord(key, payload);
          const decoded = decodeRecord(key, value);
          expect(decoded.ok).toBe(true);
          const damaged = Uint8Array.from(value);
          damaged[at % damaged.length]! ^= 1 << bit;
          expect(decodeRecord(key, damaged).ok).toBe(false);
          expect(decodeRecord(entryKey(0, i + 1), value)).toEqual({ ok: false, reason: 'checksum mismatch' });
        },
      ),
      { numRuns: 500 },
    );
  });
});
