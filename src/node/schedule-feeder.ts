// The leader's half of schedules (docs/schedules.md): it computes the next slot instants of every
// running schedule whose recorded instants run low, with croner (src/protocol/schedule-cron.ts), and
// proposes them as `scheduleSlots` commands. The state machine accepts an instants list only for the
// generation and horizon it was computed from, so a refill that races an upsert, a second refill or a
// new leader's refill is refused, never applied twice. Followers never compute anything.
import type { Command } from '../protocol/index.js';
import { computeSlots } from '../protocol/schedule-cron.js';
import { SLOTS_PER_COMMAND_MAX } from '../protocol/schedules.js';
import type { SlotNeed } from '../statemachine/schedules.js';
import type { DriverLogger } from './driver-types.js';

export interface FeederOptions {
  /** A schedule holding fewer recorded instants than this is refilled (≥ 5: reads show the next 5). */
  lowWater: number;
  /** Instants per refill. */
  batch: number;
  /** Looks at the schedules at most this often (ms). */
  intervalMs: number;
}

export const FEEDER_DEFAULT_OPTIONS: FeederOptions = { lowWater: 16, batch: 64, intervalMs: 100 };

/** What the feeder needs of the state machine. */
export interface SlotSource {
  scheduleSlotNeeds(low: number): SlotNeed[];
}

export class ScheduleFeeder {
  /** Schedule key -> the (gen, after) a refill is in flight for. */
  private readonly inflight = new Map<string, string>();
  /** Schedule key -> the (gen, after) croner failed on (logged once; retried after an upsert). */
  private readonly failed = new Map<string, string>();
  private lastAt = -Infinity;
  private readonly o: FeederOptions;

  constructor(
    private readonly sm: SlotSource,
    private readonly log: DriverLogger,
    options: Partial<FeederOptions> = {},
  ) {
    this.o = { ...FEEDER_DEFAULT_OPTIONS, ...options };
  }

  /**
   * Leader only, with its state machine caught up: proposes a refill for each schedule running low.
   * `propose` must call `done` exactly once when the command is answered or dropped.
   */
  tick(nowMs: number, propose: (cmd: Command, done: () => void) => void, wall = -Infinity): void {
    if (nowMs - this.lastAt < this.o.intervalMs) return;
    this.lastAt = nowMs;
    for (const need of this.sm.scheduleSlotNeeds(this.o.lowWater)) {
      const key = `${need.queue}\n${need.id}`;
      const tag = `${need.gen}:${need.after}`;
      if (this.inflight.get(key) === tag || this.failed.get(key) === tag) continue;
      const cmd = this.refill(need, key, tag, wall);
      if (cmd === null) continue;
      this.inflight.set(key, tag);
      propose(cmd, () => {
        if (this.inflight.get(key) === tag) this.inflight.delete(key);
      });
    }
  }

  /** Leadership lost: nothing is in flight any more from this feeder's point of view. */
  reset(): void {
    this.inflight.clear();
    this.lastAt = -Infinity;
  }

  /** `wall`: the leader's wall clock; a schedule catching up (its batch all in the past) gets bigger ones. */
  private refill(need: SlotNeed, key: string, tag: string, wall: number): Command | null {
    let slots: { instants: number[]; done: boolean };
    try {
      slots = computeSlots(need, this.o.batch);
      const last = slots.instants[slots.instants.length - 1];
      if (!slots.done && last !== undefined && last <= wall && this.o.batch < SLOTS_PER_COMMAND_MAX)
        slots = computeSlots(need, SLOTS_PER_COMMAND_MAX);
    } catch (e) {
      // The expression passed croner when proposed; a node whose time-zone data lacks the zone fails
      // here. The schedule waits (its slots are late, then missed per catchUp) until a leader can.
      this.failed.set(key, tag);
      const err = e instanceof Error ? e.message : String(e);
      this.log.warn({ queue: need.queue, schedule: need.id, err }, 'cannot compute schedule slots');
      return null;
    }
    this.failed.delete(key);
    if (slots.instants.length === 0 && !slots.done) return null;
    return {
      type: 'scheduleSlots',
      queue: need.queue,
      id: need.id,
      gen: need.gen,
      after: need.after,
      instants: slots.instants,
      done: slots.done,
    };
  }
}
