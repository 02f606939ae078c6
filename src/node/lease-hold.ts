// Long-poll lease holds: a lease request on an empty queue waits (up to its maxHoldMs) for a task to
// become waiting, the node to step down, the deadline or the client to go away, before it is proposed.
import type { SessionCommand, TaskEvent } from '../protocol/index.js';
import type { ExecuteOptions } from '../rpc/executor.js';
import type { QueueStateMachine } from '../statemachine/index.js';
import type { ClockSource } from './log-clock.js';
import type { Timers } from './driver-types.js';

/**
 * Whether `queue` has a task a lease could take now.
 * TODO(sm.hasReady): ask the state machine `sm.hasReady(queue)` once it has it, instead of a stats read.
 */
export function hasLeasable(sm: QueueStateMachine, queue: string): boolean {
  const r = sm.read({ type: 'stats', queue });
  if (!r.answer.ok) return false;
  const stats = r.answer.value as { counts: Record<string, number> };
  return (stats.counts['waiting'] ?? 0) > 0;
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
    const finish = (): void => {
      if (done) return;
      done = true;
      unsub();
      unStep();
      d.timers.clearTimeout(timer);
      opts.signal?.removeEventListener('abort', finish);
      resolve();
    };
    const unsub = d.subscribe({ queue: lease.queue }, (ev) => {
      if (ev.state === 'waiting') finish();
    });
    const unStep = d.onStepDown(finish);
    const timer = d.timers.setTimeout(finish, Math.max(0, until - d.clock.monoMs()));
    opts.signal?.addEventListener('abort', finish);
  });
}
