// A short run of `npm run fuzz` (issue #14): random and mutated gRPC requests and peer messages
// against a real 3-node cluster end with typed statuses, no node goes down, digests agree.
import { describe, expect, it } from 'vitest';
import { runFuzz } from '../fuzz/fuzz.js';

describe('fuzz - hostile gRPC input against a real cluster', () => {
  it('1,500 inputs across the client and peer surfaces: no crash, no INTERNAL, digests agree', async () => {
    const report = await runFuzz({ count: 1_500, timeMs: 60_000, seed: 20261202 });
    expect(report.failures).toEqual([]);
    expect(report.sent).toBe(1_500);
    for (const surface of [
      'client-mutated',
      'client-random',
      'client-lane',
      'peer-garbage',
      'peer-unsigned',
      'peer-signed',
    ]) {
      expect(report.bySurface[surface] ?? 0, surface).toBeGreaterThan(0);
    }
    expect(report.codes['INVALID_ARGUMENT'] ?? 0).toBeGreaterThan(0);
    expect(report.codes['UNAUTHENTICATED'] ?? 0).toBeGreaterThan(0);
  }, 150_000);
});
