// The worker's poller: long-poll lease requests on the client's 'poll' lane while the worker has free
// slots, backing off after failures and after answers the node did not hold.
import type { LeasedTask } from '../protocol/commands.js';
import { sleep } from './clock.js';
import type { Client } from './client.js';

export interface PollHost {
  readonly client: Client;
  readonly queue: string;
  readonly workerId: string;
  readonly leaseMs: number;
  readonly maxHoldMs: number;
  /** Aborted when the worker closes. */
  readonly pollSignal: AbortSignal;
  readonly stopping: boolean;
  /** Slots free now. */
  freeSlots(): number;
  /** Resolves when a slot frees (or the worker stops). */
  slotFreed(): Promise<void>;
  /** A leased task: `grantedBy` is first send + heldMs, the earliest the granting entry can exist. */
  take(leased: LeasedTask, grantedBy: number): void;
  emitError(e: unknown): void;
}

function backoffMs(failures: number): number {
  return Math.min(1_000, 20 * 2 ** Math.min(failures, 6));
}

/** One lease request for `free` tasks: how many came, or null after a failure (reported). */
async function leaseOnce(host: PollHost, free: number): Promise<{ count: number; firstSentAt: number } | null> {
  try {
    const { answer, firstSentAt } = await host.client.command(
      { type: 'lease', queue: host.queue, workerId: host.workerId, max: free, leaseMs: host.leaseMs },
      { holdMs: host.maxHoldMs, extra: { maxHoldMs: host.maxHoldMs }, signal: host.pollSignal, lane: 'poll' },
    );
    for (const t of answer.tasks) host.take(t, firstSentAt + answer.heldMs);
    return { count: answer.tasks.length, firstSentAt };
  } catch (e) {
    if (!host.stopping) host.emitError(e);
    return null;
  }
}

/** Leases until the worker stops. */
export async function pollLeases(host: PollHost): Promise<void> {
  const clock = host.client.clock;
  let idleFailures = 0;
  while (!host.stopping) {
    const free = host.freeSlots();
    if (free <= 0) {
      await host.slotFreed();
      continue;
    }
    const got = await leaseOnce(host, free);
    if (got === null && host.stopping) break;
    if (got !== null && got.count > 0) {
      idleFailures = 0;
      continue;
    }
    // A failure, or the node did not hold the request: back off instead of spinning.
    const unheld = got !== null && clock.now() - got.firstSentAt < Math.max(1, Math.min(host.maxHoldMs / 2, 100));
    if (got === null || unheld) {
      idleFailures += 1;
      await sleep(clock, backoffMs(idleFailures), host.pollSignal);
    }
  }
}
