// A short run of the decoder half of `npm run fuzz` (issue #14): random and mutated log entries and
// snapshots never throw out of the state machine, undecodable entries do what an empty one does, two
// replicas never diverge, a snapshot that does not decode is refused and a good one restores after it.
import { describe, expect, it } from 'vitest';
import { fuzzDecoders } from '../../fuzz/decoders.js';

describe('statemachine - decoder fuzz', () => {
  it('2,000 entries and 200 snapshots', () => {
    const r = fuzzDecoders(2_000, 1402);
    expect(r.failures).toEqual([]);
    expect(r.entries).toBe(2_000);
    expect(r.undecodable).toBeGreaterThan(0);
    expect(r.undecodable).toBeLessThan(2_000);
    expect(r.snapshots).toBe(200);
    expect(r.snapshotRefused).toBeGreaterThan(0);
  });
});
