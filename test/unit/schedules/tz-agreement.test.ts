// Replica agreement across process time zones (issue 12 acceptance): the same log, applied by state
// machines in processes with different TZ=, gives the same digest after every entry; and a leader in
// either time zone computes the same slot instants (croner with the schedule's zone, not the process's).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { SlotSource } from '../../../src/protocol/schedule-cron.js';
import { Sim } from './model.js';

const CHILD = fileURLToPath(new URL('./tz-replica.ts', import.meta.url));
const HOUR = 3_600_000;

/** A log with cron schedules in several zones across the 2026 DST changes, fired for three days. */
function buildLog(): { entries: string[]; sources: SlotSource[] } {
  const sim = new Sim();
  sim.log = [];
  const t0 = Date.parse('2026-10-23T20:00:00Z');
  const specs: [string, string][] = [
    ['30 2 * * *', 'Europe/Paris'],
    ['*/30 1-3 * * *', 'Europe/Paris'],
    ['0 */2 * * *', 'Australia/Lord_Howe'],
    ['15 1 * * *', 'America/New_York'],
  ];
  specs.forEach(([cron, tz], i) =>
    sim.apply(
      [
        {
          type: 'upsertSchedule',
          queue: 'q',
          id: `s${i}`,
          cron,
          tz,
          catchUp: 'all',
          task: { payload: new Uint8Array([i]) },
        },
      ],
      t0,
    ),
  );
  for (let w = t0; w <= t0 + 4 * 24 * HOUR; w += HOUR / 2) sim.drain(w);
  const sources: SlotSource[] = specs.map(([cron, tz]) => ({ cron, tz, anchor: t0, after: t0 }));
  sources.push({ everyMs: 7000, anchor: t0, after: t0 + 1 });
  return { entries: sim.log.map((e) => Buffer.from(e).toString('base64')), sources };
}

function replica(tz: string, input: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD], {
    input,
    env: { ...process.env, TZ: tz },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`replica (TZ=${tz}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('schedules - replica agreement across TZ', () => {
  it('two processes with different TZ agree on every digest and compute the same slots', () => {
    const log = buildLog();
    expect(log.entries.length).toBeGreaterThan(40);
    const input = JSON.stringify(log);
    const a = replica('Pacific/Chatham', input);
    const b = replica('America/Los_Angeles', input);
    // The processes really are in different zones.
    expect(a['offsetMin']).not.toBe(b['offsetMin']);
    expect(a['digests']).toEqual(b['digests']);
    expect(a['schedules']).toBe(b['schedules']);
    expect(a['slots']).toEqual(b['slots']);
    // And a schedule fired: the log is not trivially empty of runs.
    expect(String(a['schedules'])).toMatch(/"runs":[1-9]/);
  }, 120_000);
});
