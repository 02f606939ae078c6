// Long-poll lease holds: a lease request on a queue with nothing leasable waits (up to its maxHoldMs)
// for a task it could take, the node to step down, the deadline or the client to go away, before it is
// proposed. "Leasable" is the state machine's O(1) `hasReady` (ready, not paused, below the queue's
// concurrency, its rate and key limits): rechecked after every batch of applied entries, since only an
// apply changes it. Not only a task event of the queue (an enqueue, an ack freeing concurrency): a
// key's or the queue's tokens refilling, a handler's hold ending, a shared limit freed by another
// queue's ack and a resume change it without one. (Rechecking on the queue's task events alone left a
// rated queue's holds parked until their maxHoldMs or RECHECK_MS: a key limited to 8/s with a burst
// of 2 ran at 2/s.) RECHECK_MS stays as a backstop. Plain enqueues on the queue wake holds as their
// entry is packed (`onPlainWork`): the leases go at the end of the same
// entry, so a worker starts a task one commit round after its enqueue instead of two (the lease
// command after the enqueue's entry applied). One hold wakes per plain task. (Waking only as many as
// the holds' `max` covered left the others parked: enqueue → ack and → start got longer, and some
// runs stalled for seconds; see docs/decisions.md "Lease commands go at the end…".)
import type { SessionCommand, TaskSpec } from '../protocol/index.js';
import type { ExecuteOptions } from '../rpc/executor.js';
import type { QueueStateMachine } from '../statemachine/index.js';
import type { ClockSource } from './log-clock.js';
import type { Timers } from './driver-types.js';

/** How often a held lease rechecks its queue without an apply (a backstop: applies recheck it). */
export const RECHECK_MS = 1_000;

/** Whether a lease on `queue` would grant a task now (O(1); was a stats read, 2.9 % of a leader's CPU). */
export function hasLeasable(sm: QueueStateMachine, queue: string): boolean {
  return sm.hasReady(queue);
}

export interface HoldDeps {
  sm: QueueStateMachine;
  clock: ClockSource;
  timers: Timers;
  /** Calls `cb` after each batch of applied entries (or a restored snapshot); returns the unsubscribe. */
  afterApply(cb: () => void): () => void;
  onStepDown(cb: () => void): () => void;
  /** Calls `wake` when plain enqueues on `queue` are about to be packed (HeldLeases.wake). */
  onPlainWork(queue: string, wake: () => void): () => void;
}

/**
 * Holds `cmds` while they lease on a queue with nothing leasable (see the module comment), then calls
 * `propose` — exactly once, synchronously at the wake-up, so a hold woken by a plain enqueue is
 * queued before that enqueue's entry is packed.
 */
export async function holdForWork(
  d: HoldDeps,
  cmds: SessionCommand[],
  received: number,
  opts: ExecuteOptions,
  propose: () => void,
): Promise<void> {
  const lease = cmds.find((c) => c.cmd.type === 'lease')?.cmd;
  if (!lease || lease.type !== 'lease' || hasLeasable(d.sm, lease.queue)) return propose();
  const until = Math.min(received + (opts.maxHoldMs ?? 0), opts.deadline - 50);
  await new Promise<void>((resolve) => {
    let done = false;
    let recheck: unknown = null;
    const finish = (): void => {
      if (done) return;
      done = true;
      unsub();
      unStep();
      unWork();
      d.timers.clearTimeout(timer);
      d.timers.clearTimeout(recheck);
      opts.signal?.removeEventListener('abort', finish);
      propose();
      resolve();
    };
    const check = (): void => {
      if (hasLeasable(d.sm, lease.queue)) finish();
    };
    const unsub = d.afterApply(check);
    const unStep = d.onStepDown(finish);
    const unWork = d.onPlainWork(lease.queue, finish);
    const timer = d.timers.setTimeout(finish, Math.max(0, until - d.clock.monoMs()));
    const rearm = (): void => {
      recheck = d.timers.setTimeout(() => {
        check();
        if (!done) rearm();
      }, RECHECK_MS);
    };
    rearm();
    opts.signal?.addEventListener('abort', finish);
  });
}

/**
 * The leader's held leases by queue, oldest first. As an entry is packed, its plain enqueues (ready at
 * once: no delay, key, group or dependencies) on a queue that takes them wake as many holds there as
 * they have plain tasks; the woken leases are queued behind, into the same entry. A lease that then
 * finds nothing answers empty, as a held lease would.
 */
export class HeldLeases {
  private readonly byQueue = new Map<string, Set<() => void>>();

  add(queue: string, wake: () => void): () => void {
    let set = this.byQueue.get(queue);
    if (set === undefined) this.byQueue.set(queue, (set = new Set()));
    set.add(wake);
    return () => {
      set.delete(wake);
      if (set.size === 0 && this.byQueue.get(queue) === set) this.byQueue.delete(queue);
    };
  }

  /** Called with the commands about to be packed into an entry; the woken holds queue their lease. */
  wake(cmds: Iterable<SessionCommand>, sm: QueueStateMachine): void {
    if (this.byQueue.size === 0) return;
    // Counted first: a woken hold queues its lease behind these commands at once.
    const plain = new Map<string, number>();
    for (const { cmd } of cmds) {
      if (cmd.type !== 'enqueue' || !this.byQueue.has(cmd.queue)) continue;
      let n = 0;
      for (const t of cmd.tasks) if (isPlainTask(t)) n++;
      if (n > 0) plain.set(cmd.queue, (plain.get(cmd.queue) ?? 0) + n);
    }
    for (const [queue, tasks] of plain) {
      const waiting = this.byQueue.get(queue);
      if (waiting === undefined || !sm.takesPlainWork(queue)) continue;
      let n = tasks;
      for (const wake of [...waiting]) {
        if (n-- <= 0) break;
        wake(); // the hold unregisters itself
      }
    }
  }
}

function isPlainTask(t: TaskSpec): boolean {
  return (
    !t.delayMs &&
    t.runAt === undefined &&
    t.key === undefined &&
    t.group === undefined &&
    (t.dependsOn === undefined || t.dependsOn.length === 0)
  );
}
