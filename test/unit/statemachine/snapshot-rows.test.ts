// snapshot-rows.ts writes a snapshot's task chunks itself; its bytes must be msgpackr's, whatever the
// rows hold (values it does not know go to msgpackr row by row). hot-path-pin pins real snapshots.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encode } from '../../../src/protocol/index.js';
import { RowWriter } from '../../../src/statemachine/snapshot-rows.js';

const ascii = fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 300 });

const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.integer({ min: -200_000, max: 200_000 }),
    fc.double(),
    fc.constantFrom(
      0,
      -0,
      1.7e12,
      2 ** 32,
      -(2 ** 31) - 1,
      0x7f,
      0x80,
      0xff,
      0x100,
      0xffff,
      0x10000,
      -0x20,
      -0x21,
      -0x80,
      -0x81,
    ),
    ascii,
    fc.string({ maxLength: 40 }), // any UTF-16: msgpackr's rows
    fc.uint8Array({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 4 }).map((b) => Buffer.from(b)),
    fc.constant(undefined),
    fc.array(tie('value'), { maxLength: 20 }),
    fc.dictionary(ascii, tie('value'), { maxKeys: 20 }),
  ),
}));

describe('snapshot rows (snapshot-rows.ts)', () => {
  it('writes ["tasks", rows] byte for byte as msgpackr does', () => {
    const w = new RowWriter();
    fc.assert(
      fc.property(fc.array(fc.array(value, { maxLength: 18 }), { maxLength: 40 }), (rows) => {
        expect(Buffer.from(w.chunk(rows)).equals(Buffer.from(encode(['tasks', rows])))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('writes long strings, large byte strings and many rows with their 16- and 32-bit headers', () => {
    const w = new RowWriter();
    const rows = [
      ['x'.repeat(70_000), new Uint8Array(70_000).fill(7), 'y'.repeat(300)],
      ...Array.from({ length: 70_000 }, (_, i) => [i]),
    ];
    const mine = w.chunk(rows);
    expect(Buffer.from(mine).equals(Buffer.from(encode(['tasks', rows])))).toBe(true);
    expect(mine.buffer.byteLength).toBe(mine.byteLength); // a buffer of its own: the next chunk reuses the scratch
  });

  it('the planted bug (a byte string one short) writes other bytes', () => {
    const rows = [[1, 'q', new Uint8Array([1, 2, 3]), null]];
    expect(Buffer.from(new RowWriter(true).chunk(rows)).equals(Buffer.from(encode(['tasks', rows])))).toBe(false);
  });
});
