// The `npm test` run of the jepsen-like suite: real node processes (the compiled dist/, built by
// `npm test` first), one short fault phase that rotates through every nemesis class, then heal,
// drain, final reads, digests and probes, checked with every check and the run's minimums. The
// rotation includes a membership change (the `member` nemesis: remove, wipe, rejoin with --join).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nemesisKinds } from './lib/nemesis.js';
import { runJepsen } from './lib/run.js';

describe('jepsen-like short run', () => {
  it('passes every check while rotating through every nemesis class', async () => {
    const r = await runJepsen({
      nodes: 3,
      nemesis: 'all',
      timeSec: 40,
      seed: 20261122,
      quietMs: [300, 900],
    });
    // On failure the run folder (history, summary, timeline, node logs) is the evidence.
    if (r.status !== 'pass') process.stderr.write(`${r.summary}\nrun folder: ${r.dir}\n`);
    expect(r.status).toBe('pass');
    expect(r.exitCode).toBe(0);
    for (const kind of nemesisKinds) expect(r.verdict?.stats.faults[kind] ?? 0).toBeGreaterThan(0);
    // The member nemesis really changed the membership: a follower removed, wiped, and back as a voter.
    const events = readFileSync(join(r.dir, 'events.log'), 'utf8');
    expect(events).toMatch(/member remove n\d: ok/);
    expect(events).toMatch(/member n\d rejoined: a voter/);
  }, 175_000);
});
