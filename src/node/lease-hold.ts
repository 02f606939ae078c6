// Long-poll lease holds: a lease request on a queue with nothing leasable waits (up to its maxHoldMs)
// for a task it could take, the node to step down, the deadline or the client to go away, before it is
// proposed. "Leasable" is the state machine's O(1) `hasReady` (ready, not paused, below the queue's
// concurrency): rechecked on every event of the queue (an ack frees concurrency) and every
// RECHECK_MS (a resume or a configure changes no task, so it sends no event).
import type { SessionCommand, TaskEvent } from '../protocol/index.js';
import type { ExecuteOptions } from '../rpc/executor.js';
import type { QueueStateMachine } from '../statemachine/index.js';
import type { ClockSource } from './log-clock.js';
import type { Timers } from './driver-types.js';

/** How often a held lease rechecks its queue without an event (a resumed queue sends none). */
export const RECHECK_MS = 1_000;

/** Whether a lease on `queue` would grant a task now (O(1); was a stats read, 2.9 % of a leader's CPU). */
export function hasLeasable(sm: QueueStateMachine, queue: string): boolean {
  return sm.hasReady(queue);
}

export interface HoldDeps {
  sm: QueueStateMachine;
  clock: ClockSource;
  timers: Timers;
  subscribe(filter: { queue?: string }, onEvent: (e: TaskEvent) => void): () => void;
  onStepDown(cb: () => void): () => void;
}

/** Waits while `cmds` hold a lease on a queue with nothing leasable (see the module comment). */
export async function holdForWork(
  d: HoldDeps,
  cmds: SessionCommand[],
  received: number,
  opts: ExecuteOptions,
): Promise<void> {
  const lease = cmds.find((c) => c.cmd.type === 'lease')?.cmd;
  if (!lease || lease.type !== 'lease') return;
  if (hasLeasable(d.sm, lease.queue)) return;
  const until = Math.min(received + (opts.maxHoldMs ?? 0), opts.deadline - 50);
  await new Promise<void>((resolve) => {
    let done = false;
    let recheck: unknown = null;
    const finish = (): void => {
      if (done) return;
      done = true;
      unsub();
      unStep();
      d.timers.clearTimeout(timer);
      d.timers.clearTimeout(recheck);
      opts.signal?.removeEventListener('abort', finish);
      resolve();
    };
    const check = (): void => {
      if (hasLeasable(d.sm, lease.queue)) finish();
    };
    const unsub = d.subscribe({ queue: lease.queue }, check);
    const unStep = d.onStepDown(finish);
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
