// Schedules on a real 3-node cluster (issue 12): a schedule every second keeps firing through a
// leader SIGKILL — checked from the tasks it enqueued, every slot from the first to the last is
// there exactly once (none fired twice, none missed) — and the CLI manages it.
import { describe, expect, it } from 'vitest';
import { Client, SCHEDULE_HEADER, SCHEDULE_SLOT_HEADER, type Task } from '../../src/index.js';
import { clusterPerTest } from '../support/cluster.js';
import { statusOf, waitFor, waitForLeader, type TestCluster } from './helpers.js';
import { runRaftq } from './node-helpers.js';

const fx = clusterPerTest();
const QUEUE = 'sched-it';

async function allTasks(c: ReturnType<typeof fx.client>): Promise<Task[]> {
  const out: Task[] = [];
  for (const state of ['waiting', 'completed'] as const) {
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const p = await c.queue(QUEUE).list({ state, limit: 500, ...(cursor ? { cursor } : {}) });
      out.push(...p.items);
      if (p.nextCursor === null) break;
      cursor = p.nextCursor;
    }
  }
  return out;
}

/** The commit indexes once unchanged (one reading every 200 ms) for `spanMs`; throws at the deadline. */
async function stableFor(t: TestCluster, spanMs: number, deadlineMs: number): Promise<string> {
  const reading = async (): Promise<string> =>
    (await Promise.all(t.cluster.specs.map((s) => statusOf(t.cluster, s.id))))
      .map((s) => `${s?.commitIndex}`)
      .join(',');
  let last = '';
  let since = performance.now();
  return waitFor(
    async () => {
      const r = await reading();
      if (r !== last) {
        last = r;
        since = performance.now();
        return undefined;
      }
      return performance.now() - since >= spanMs ? r : undefined;
    },
    deadlineMs,
    `commit indexes unchanged for ${spanMs} ms`,
    200,
  );
}

describe('schedules on a 3-node cluster', () => {
  it('an idle cluster with a daily schedule appends nothing until a slot is due', async () => {
    const tc = await fx.start(3);
    await waitForLeader(tc.cluster);
    const client = new Client({ servers: tc.cluster.servers, timeoutMs: 15_000 });
    await client.schedules.upsert(QUEUE, 'daily', { cron: '0 6 * * *', tz: 'Europe/Paris', payload: null });
    await waitFor(
      async () => ((await client.schedules.get(QUEUE, 'daily')).nextRuns.length === 5 ? true : undefined),
      15_000,
      'slots recorded',
    );
    // The client's session keepalives are entries too: close it before watching.
    await client.close();
    await stableFor(tc, 2_500, 15_000);
  }, 60_000);

  it('a schedule every second: through a leader kill, no slot fired twice and none missed', async () => {
    const tc = await fx.start(3);
    const first = await waitForLeader(tc.cluster);
    const client = fx.client({ timeoutMs: 30_000 });
    const created = await client.schedules.upsert(QUEUE, 'tick', { everyMs: 1000, catchUp: 'all', payload: { n: 1 } });
    expect(created).toEqual({ created: true });
    const runs = async (): Promise<number> => (await client.schedules.get(QUEUE, 'tick')).runs;
    await waitFor(async () => ((await runs()) >= 3 ? true : undefined), 20_000, 'three runs before the kill');
    const before = await runs();
    await tc.cluster.kill(first);
    await waitForLeader(tc.cluster, 30_000, first);
    await waitFor(async () => ((await runs()) >= before + 5 ? true : undefined), 30_000, 'five runs after the kill');
    await client.schedules.pause(QUEUE, 'tick');
    const view = await client.schedules.get(QUEUE, 'tick');
    expect(view.paused).toBe(true);

    const tasks = await allTasks(client);
    expect(tasks.every((t) => t.headers[SCHEDULE_HEADER] === 'tick')).toBe(true);
    const slots = tasks.map((t) => Date.parse(t.headers[SCHEDULE_SLOT_HEADER] ?? '')).sort((a, b) => a - b);
    expect(new Set(slots).size).toBe(slots.length); // none fired twice
    expect(slots.length).toBe(view.runs);
    // None missed: consecutive slots, one second apart, from the first to the last.
    for (let i = 1; i < slots.length; i++) expect((slots[i] as number) - (slots[i - 1] as number)).toBe(1000);
    expect(view.skipped).toBe(0);
    expect(tasks.map((t) => t.payload)).toEqual(tasks.map(() => ({ n: 1 })));
  }, 120_000);

  it('the CLI lists (with the next run times), upserts, triggers and deletes schedules', async () => {
    const tc = await fx.start(3);
    await waitForLeader(tc.cluster);
    const servers = ['--servers', tc.cluster.servers.join(',')];
    const up = await runRaftq([
      'schedules',
      'upsert',
      QUEUE,
      'daily',
      '--cron',
      '0 6 * * *',
      '--tz',
      'Europe/Paris',
      '--payload',
      '{"report":"daily"}',
      ...servers,
    ]);
    expect(up.stdout).toContain(`${QUEUE}/daily created`);
    const bad = await runRaftq([
      'schedules',
      'upsert',
      QUEUE,
      'bad',
      '--cron',
      '0 6 * * *',
      '--tz',
      'Nowhere/Zone',
      ...servers,
    ]);
    expect(bad.code).toBe(2); // INVALID_ARGUMENT, like a usage error
    expect(bad.stderr).toMatch(/tz/);
    const listed = await waitFor(
      async () => {
        const r = await runRaftq(['schedules', 'list', QUEUE, '--json', ...servers]);
        const list = JSON.parse(r.stdout) as { id: string; nextRuns: number[]; tz: string }[];
        return list[0]?.nextRuns.length === 5 ? list : undefined;
      },
      20_000,
      'the leader recorded the next run times',
    );
    expect(listed.map((s) => [s.id, s.tz])).toEqual([['daily', 'Europe/Paris']]);
    // 06:00 in Paris is 04:00 or 05:00 UTC (summer / winter time).
    for (const t of listed[0]?.nextRuns ?? []) expect([4, 5]).toContain(new Date(t).getUTCHours());
    const trig = await runRaftq(['schedules', 'trigger', QUEUE, 'daily', '--json', ...servers]);
    const taskId = (JSON.parse(trig.stdout) as { taskId: string }).taskId;
    const client = fx.client();
    const task = await client.queue(QUEUE).get(taskId);
    expect(task.payload).toEqual({ report: 'daily' });
    for (const verb of ['pause', 'resume'] as const) {
      expect((await runRaftq(['schedules', verb, QUEUE, 'daily', ...servers])).stdout).toContain(
        `${QUEUE}/daily ${verb}d`,
      );
      expect((await client.schedules.get(QUEUE, 'daily')).paused).toBe(verb === 'pause');
    }
    const del = await runRaftq(['schedules', 'delete', QUEUE, 'daily', '--yes', ...servers]);
    expect(del.code).toBe(0);
    expect(await client.schedules.list(QUEUE)).toEqual([]);
  }, 120_000);
});
