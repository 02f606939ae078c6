import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quorumValue } from '../../../src/raft/quorum.js';

/** The reference: the median-from-the-top of a descending copy. */
const reference = (values: readonly number[]): number =>
  values.length === 0 ? 0 : ([...values].sort((a, b) => b - a)[values.length >> 1] ?? 0);

describe('quorumValue', () => {
  it('is the value a majority has reached, for any order and duplicates', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 50 }), { maxLength: 9 }), (values) => {
        expect(quorumValue([...values])).toBe(reference(values));
      }),
      { numRuns: 2000 },
    );
  });

  it('reaches the majority, not the maximum or the minimum', () => {
    expect(quorumValue([7, 3, 9])).toBe(7);
    expect(quorumValue([0, 0, 5])).toBe(0);
    expect(quorumValue([5, 4, 3, 2, 1])).toBe(3);
    expect(quorumValue([1, 2, 3, 4])).toBe(2);
    expect(quorumValue([])).toBe(0);
  });
});
