// The leader's slot feeder: one refill in flight per schedule and horizon, croner failures logged
// once (the schedule waits), nothing for paused or finished schedules, a rate limit on its scans.
import { describe, expect, it } from 'vitest';
import type { Command } from '../../../src/protocol/index.js';
import { ScheduleFeeder } from '../../../src/node/schedule-feeder.js';
import type { SlotNeed } from '../../../src/statemachine/schedules.js';

const need = (extra: Partial<SlotNeed> = {}): SlotNeed => ({
  queue: 'q',
  id: 's',
  gen: 0,
  after: 1000,
  recorded: 0,
  anchor: 1000,
  everyMs: 1000,
  ...extra,
});

function feeder(needs: () => SlotNeed[], opts = {}) {
  const warnings: object[] = [];
  const log = { info: () => undefined, warn: (o: object) => warnings.push(o), error: () => undefined };
  const f = new ScheduleFeeder({ scheduleSlotNeeds: needs }, log, { intervalMs: 0, ...opts });
  return { f, warnings };
}

describe('schedules - the leader feeder', () => {
  it('proposes the next instants once per (generation, horizon) until answered', () => {
    let current = [need()];
    const { f } = feeder(() => current);
    const sent: [Command, () => void][] = [];
    const tick = () => f.tick(0, (cmd, done) => sent.push([cmd, done]));
    tick();
    tick();
    expect(sent).toHaveLength(1);
    expect(sent[0]?.[0]).toMatchObject({ type: 'scheduleSlots', gen: 0, after: 1000, done: false });
    expect((sent[0]?.[0] as { instants: number[] }).instants.slice(0, 3)).toEqual([2000, 3000, 4000]);
    sent[0]?.[1]();
    tick(); // answered (refused, say): proposed again
    expect(sent).toHaveLength(2);
    current = [need({ gen: 1 })];
    tick(); // a new generation: not blocked by the one in flight
    expect(sent).toHaveLength(3);
    f.reset();
    tick();
    expect(sent).toHaveLength(4);
  });

  it('a time zone croner cannot use is logged once and the schedule waits', () => {
    const { f, warnings } = feeder(() => [need({ everyMs: undefined, cron: '0 6 * * *', tz: 'Nowhere/Zone' })]);
    const sent: Command[] = [];
    for (let i = 0; i < 3; i++) f.tick(i, (cmd) => sent.push(cmd));
    expect(sent).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ queue: 'q', schedule: 's' });
  });

  it('a schedule catching up (its next batch all in the past) gets the largest batches', () => {
    const { f } = feeder(() => [need()], { batch: 8 });
    const sent: Command[] = [];
    f.tick(0, (cmd) => sent.push(cmd), 1000 + 100 * 1000);
    expect((sent[0] as { instants: number[] }).instants).toHaveLength(256);
    const { f: g } = feeder(() => [need()], { batch: 8 });
    g.tick(0, (cmd) => sent.push(cmd), 5000);
    expect((sent[1] as { instants: number[] }).instants).toHaveLength(8);
  });

  it('scans at most every intervalMs', () => {
    let scans = 0;
    const { f } = feeder(
      () => {
        scans++;
        return [];
      },
      { intervalMs: 100 },
    );
    for (const t of [0, 50, 99, 100, 150, 250]) f.tick(t, () => undefined);
    expect(scans).toBe(3);
  });
});
