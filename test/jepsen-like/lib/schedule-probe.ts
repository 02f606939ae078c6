// `--schedules`: a schedule every second runs through the whole fault phase (issue 12). At the end
// the tasks it enqueued (a queue no worker touches) are the record: every slot from the first to the
// last must be there exactly once (catchUp `all`: a missed slot fires late, it is never skipped), as
// many as the schedule counts, and enough of them that the schedule kept firing through the faults.
import { Client } from '../../../src/client/index.js';
import { SCHEDULE_HEADER, SCHEDULE_SLOT_HEADER } from '../../../src/protocol/schedules.js';

export const SCHEDULE_QUEUE = 'jepsen-schedule';
const ID = 'every-second';

export interface ScheduleProbeResult {
  valid: boolean;
  /** Tasks found, distinct slots among them, the schedule's own counts. */
  tasks: number;
  slots: number;
  runs: number;
  skipped: number;
  first: string | null;
  last: string | null;
  problems: string[];
}

export class ScheduleProbe {
  private readonly client: Client;

  constructor(
    servers: string[],
    private readonly log: (line: string) => void,
  ) {
    this.client = new Client({ servers, timeoutMs: 60_000 });
  }

  async setup(): Promise<void> {
    await this.client.schedules.upsert(SCHEDULE_QUEUE, ID, { everyMs: 1000, catchUp: 'all', payload: null });
    this.log(`schedule ${SCHEDULE_QUEUE}/${ID}: every second, catchUp all`);
  }

  /** After the heal, before the final reads (which need the commit index to stand still). */
  async pause(): Promise<void> {
    await this.client.schedules.pause(SCHEDULE_QUEUE, ID);
  }

  /** Every task the schedule enqueued, checked. */
  async check(minSlots: number): Promise<ScheduleProbeResult> {
    const view = await this.client.schedules.get(SCHEDULE_QUEUE, ID);
    const slots: number[] = [];
    const problems: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10_000; page++) {
      const p = await this.client
        .queue(SCHEDULE_QUEUE)
        .list({ state: 'waiting', limit: 1000, ...(cursor ? { cursor } : {}) });
      for (const t of p.items) {
        if (t.headers[SCHEDULE_HEADER] !== ID) problems.push(`task ${t.id} without the schedule header`);
        slots.push(Date.parse(t.headers[SCHEDULE_SLOT_HEADER] ?? ''));
      }
      if (p.nextCursor === null) break;
      cursor = p.nextCursor;
    }
    slots.sort((a, b) => a - b);
    const distinct = new Set(slots).size;
    if (distinct !== slots.length) problems.push(`${slots.length - distinct} slot(s) fired twice`);
    for (let i = 1; i < slots.length; i++) {
      const gap = (slots[i] as number) - (slots[i - 1] as number);
      if (gap !== 1000 && gap !== 0)
        problems.push(`slots ${iso(slots[i - 1])} .. ${iso(slots[i])}: ${gap / 1000 - 1} missed`);
    }
    if (slots.length !== view.runs) problems.push(`${slots.length} tasks but the schedule counts ${view.runs} runs`);
    if (view.skipped !== 0) problems.push(`${view.skipped} slot(s) skipped under catchUp all`);
    if (view.failed !== 0) problems.push(`${view.failed} run(s) whose enqueue was refused: ${view.lastError ?? ''}`);
    if (distinct < minSlots) problems.push(`only ${distinct} slots fired, fewer than ${minSlots}`);
    await this.client.close({ timeoutMs: 2_000 });
    return {
      valid: problems.length === 0,
      tasks: slots.length,
      slots: distinct,
      runs: view.runs,
      skipped: view.skipped,
      first: slots.length > 0 ? iso(slots[0]) : null,
      last: slots.length > 0 ? iso(slots[slots.length - 1]) : null,
      problems: problems.slice(0, 20),
    };
  }

  async close(): Promise<void> {
    await this.client.close({ timeoutMs: 2_000 }).catch(() => undefined);
  }
}

function iso(t: number | undefined): string {
  return t === undefined || !Number.isFinite(t) ? String(t) : new Date(t).toISOString();
}

export function scheduleLine(r: ScheduleProbeResult): string {
  const head = `schedule every second: ${r.valid ? 'ok' : 'FAIL'}  ${r.slots} slots fired once each (${r.first} .. ${r.last}), runs ${r.runs}, skipped ${r.skipped}`;
  return [head, ...r.problems.map((p) => `  ${p}`)].join('\n') + '\n';
}
