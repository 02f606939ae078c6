// The worker's poller: long-poll `queue.leaseRound` requests on the client's 'poll' lane while the
// worker has free slots, backing off after failures and after answers the node did not hold. Up to
// LEASES_IN_FLIGHT_MAX requests are in flight at once, together asking for at most the free slots:
// a lane asks for the free slots no other request has asked for (up to `askMax`), so a slot freed
// while a lease is out is asked for at once instead of after that lease's round.
import { sleep } from './clock.js';
import type { Client } from './client.js';
import type { Lease } from './queue-leases.js';
import type { Queue } from './queue.js';

/** Lease requests a worker keeps in flight at most (never more than its concurrency). */
export const LEASES_IN_FLIGHT_MAX = 4;

/** Wakes every current waiter at once (a slot freed, a lease returned, the worker stopping). */
export class Pulse {
  private waiters: Array<() => void> = [];

  wait(): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  fire(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export interface PollHost {
  readonly client: Client;
  /** The queue's low-level consumer API (queue-leases.ts): all the worker sends goes through it. */
  readonly api: Queue<unknown>;
  readonly workerId: string;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly holdMsMax: number;
  readonly marginMs: number;
  /** Aborted when the worker closes. */
  readonly pollSignal: AbortSignal;
  readonly stopping: boolean;
  /** Fired when a slot frees or the worker stops. */
  readonly slotPulse: Pulse;
  /** Slots free now. */
  freeSlots(): number;
  /** A leased task; its `grantedBy` is first send + heldMs, the earliest the granting entry can exist. */
  take(lease: Lease<unknown>): void;
  emitError(e: unknown): void;
}

/** The lease requests in flight: how many, and how many slots they ask for together. */
interface Flights {
  count: number;
  reserved: number;
  readonly max: number;
  /** How many tasks the last answered request brought. */
  lastGot: number;
}

/**
 * The most one request asks for: a lane's share of the slots, or twice what the last request got if
 * more. While leases come back small (a trickle), every lane's request stays parked at the leader, so a
 * task that arrives while one lease commits wakes another in its own entry (one asking for every free
 * slot left no request parked then: the task waited for the next lease, a commit round later). With a
 * backlog, leases come back large and the asks grow to every free slot within a few requests.
 */
export function askMax(concurrency: number, flights: Pick<Flights, 'max' | 'lastGot'>): number {
  return Math.max(Math.ceil(concurrency / flights.max), 2 * flights.lastGot);
}

function backoffMs(failures: number): number {
  return Math.min(1_000, 20 * 2 ** Math.min(failures, 6));
}

/** One lease request for `max` tasks: how many came, or null after a failure (reported). */
async function leaseOnce(host: PollHost, max: number): Promise<{ count: number; firstSentAt: number } | null> {
  try {
    const round = await host.api.leaseRound({
      max,
      leaseMs: host.leaseMs,
      waitMs: host.holdMsMax,
      workerId: host.workerId,
      margin: host.marginMs,
      lane: 'poll',
      signal: host.pollSignal,
    });
    for (const l of round.leases) host.take(l);
    return { count: round.leases.length, firstSentAt: round.sentAt };
  } catch (e) {
    if (!host.stopping) host.emitError(e);
    return null;
  }
}

/** Leases until the worker stops. */
export async function pollLeases(host: PollHost): Promise<void> {
  const flights: Flights = {
    count: 0,
    reserved: 0,
    lastGot: 0,
    max: Math.max(1, Math.min(LEASES_IN_FLIGHT_MAX, host.concurrency)),
  };
  await Promise.all(Array.from({ length: flights.max }, () => leaseLoop(host, flights)));
}

/** One of the poller's lanes: one lease request at a time, for the free slots not yet asked for. */
async function leaseLoop(host: PollHost, flights: Flights): Promise<void> {
  const clock = host.client.clock;
  let idleFailures = 0;
  while (!host.stopping) {
    const unasked = host.freeSlots() - flights.reserved;
    if (unasked <= 0) {
      await host.slotPulse.wait();
      continue;
    }
    const ask = Math.min(unasked, askMax(host.concurrency, flights));
    flights.count += 1;
    flights.reserved += ask;
    // leaseOnce never throws. What this request did not get, this lane asks for again itself.
    const got = await leaseOnce(host, ask);
    flights.count -= 1;
    flights.reserved -= ask;
    // Stopping: whatever came back, this lane is done. (A lane answered empty here used to wait for a
    // freed slot, but the worker's close had fired its pulse already: close hung, timeout or not.)
    if (host.stopping) break;
    if (got !== null) flights.lastGot = got.count;
    if (got !== null && got.count > 0) {
      idleFailures = 0;
      continue;
    }
    // A failure, or the node did not hold the request: back off instead of spinning — unless another
    // lane has a request out (it took the ready tasks first): then that lane carries on and this one
    // waits for a freed slot.
    const unheld = got !== null && clock.now() - got.firstSentAt < Math.max(1, Math.min(host.holdMsMax / 2, 100));
    if (unheld && flights.count > 0) {
      await host.slotPulse.wait();
    } else if (got === null || unheld) {
      idleFailures += 1;
      await sleep(clock, backoffMs(idleFailures), host.pollSignal);
    }
  }
}
