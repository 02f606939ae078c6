// Runs every ```ts example of docs/schedules.md against an in-process node (client service over a
// real state machine) whose "leader" refills schedule slots with the real ScheduleFeeder.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ScheduleFeeder } from '../../../src/node/schedule-feeder.js';
import type { SessionCommand } from '../../../src/protocol/index.js';
import type { ExecuteOptions, ExecuteResult } from '../../../src/rpc/executor.js';
import { MachineExecutor } from '../client/machine-executor.js';
import { runExample, serveExamples, tsExamples } from '../examples.js';

const examples = tsExamples(readFileSync(new URL('../../../docs/schedules.md', import.meta.url), 'utf8'));
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The executor as a leader: after each call, the schedules running low get their next slots. */
class LeaderExecutor extends MachineExecutor {
  private readonly feeder = new ScheduleFeeder(this.machine, silent, { intervalMs: 0 });

  override async execute(cmds: SessionCommand[], opts: ExecuteOptions): Promise<ExecuteResult> {
    const r = await super.execute(cmds, opts);
    const refills: SessionCommand[] = [];
    this.feeder.tick(0, (cmd, done) => {
      refills.push({ session: null, seq: 0, cmd });
      done();
    });
    for (const sc of refills) this.applyNow([sc]);
    return r;
  }
}

serveExamples(() => new LeaderExecutor());

describe('docs/schedules.md examples', () => {
  it('has the daily job in Europe/Paris', () => {
    expect(examples.length).toBeGreaterThanOrEqual(1);
    expect(examples[0]).toContain("tz: 'Europe/Paris'");
  });

  it('example 1: a daily job at 06:00 Paris time runs, with its next 5 run times', async () => {
    const logs = await runExample(examples[0] as string);
    expect(logs[0]).toEqual(['created', true]);
    const next = logs[1]?.[0] as string[];
    expect(next).toHaveLength(5);
    // 06:00 in Paris is 05:00 UTC in winter, 04:00 UTC in summer; one day apart.
    for (const t of next) expect(['04:00:00.000Z', '05:00:00.000Z']).toContain(t.slice(11));
    const day = 86_400_000;
    for (let i = 1; i < next.length; i++) {
      const gap = Date.parse(next[i] as string) - Date.parse(next[i - 1] as string);
      expect([day - 3_600_000, day, day + 3_600_000]).toContain(gap);
    }
    expect(String(logs[2]?.[0])).toMatch(/^daily report for \d{4}-\d\d-\d\dT/);
  }, 20_000);
});
