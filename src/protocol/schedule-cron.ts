// Slot instants of a schedule, computed with croner: by the leader only (src/node/schedule-feeder.ts),
// which writes them into the log, and by the node to check an upsert before proposing it. The state
// machine never calls this (replicas' time-zone data may differ): it only compares log stamps with
// the instants recorded. DST, as croner documents it (docs/schedules.md): a fixed-time job (one
// value in each of seconds, minutes, hours) runs once at the first occurrence of a repeated time, and
// right after a gap for a skipped one; an interval job runs on both occurrences and skips the gap.
import { Cron } from 'croner';
import type { Command } from './commands.js';
import type { ErrorDetail } from './errors.js';

export interface SlotSource {
  cron?: string;
  tz?: string;
  everyMs?: number;
  /** everyMs: slots are anchor + k·everyMs. */
  anchor: number;
  /** Instants are computed strictly after this. */
  after: number;
  endAt?: number;
}

function cronOf(cron: string, tz: string | undefined): Cron {
  return new Cron(cron, { timezone: tz ?? 'UTC', mode: '5-or-6-parts', paused: true });
}

/**
 * The next `n` slot instants after `src.after` (wall ms), ascending, none at or after endAt; `done`
 * when no slot exists beyond them. Throws on an expression or time zone croner rejects.
 */
export function computeSlots(src: SlotSource, n: number): { instants: number[]; done: boolean } {
  const out: number[] = [];
  if (src.everyMs !== undefined) {
    const every = src.everyMs;
    let k = src.after < src.anchor ? 0 : Math.floor((src.after - src.anchor) / every) + 1;
    for (; out.length < n; k++) {
      const at = src.anchor + k * every;
      if (src.endAt !== undefined && at >= src.endAt) return { instants: out, done: true };
      if (at > src.after) out.push(at);
    }
    return { instants: out, done: false };
  }
  const job = cronOf(src.cron ?? '', src.tz);
  const runs = job.nextRuns(n, new Date(src.after));
  for (const d of runs) {
    const at = d.getTime();
    if (src.endAt !== undefined && at >= src.endAt) return { instants: out, done: true };
    if (at > src.after) out.push(at);
  }
  return { instants: out, done: runs.length < n };
}

/** An expression or time zone croner rejects: INVALID_ARGUMENT naming the field. Null: fine. */
export function cronError(cron: string, tz: string | undefined): ErrorDetail | null {
  try {
    cronOf(cron, tz).nextRun(new Date(0));
    return null;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const field = /timezone/i.test(message) ? 'tz' : 'cron';
    return { code: 'INVALID_ARGUMENT', message: `${field}: ${message}`, field };
  }
}

/** The node's check of a schedule command before proposing it (the state machine checks shapes only). */
export function checkScheduleProposal(cmd: Command): ErrorDetail | null {
  if (cmd.type !== 'upsertSchedule' || cmd.cron === undefined) return null;
  return cronError(cmd.cron, cmd.tz);
}
