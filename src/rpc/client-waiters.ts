// WaitFor on the leader: watchers of tasks until they are terminal. All watchers of a node share one
// event subscription and one step-down hook, dispatched by task id, and their number is capped.
import { TERMINAL_STATES, type ReadAnswer, type TaskEvent, type TaskState } from '../protocol/commands.js';
import type { Timer } from '../client/clock.js';
import { asObject } from '../protocol/wire-values.js';
import { Refusal } from './client-errors.js';
import type { ClientExecutor } from './executor.js';

interface Watch {
  onTerminal(): void;
  onStepDown(): void;
}

/** The task watchers of one node. */
export class TaskWatchers {
  private readonly byId = new Map<string, Set<Watch>>();
  private count = 0;
  private detach: (() => void) | null = null;

  constructor(
    private readonly executor: ClientExecutor,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Registers a watch of task `id`; the returned function removes it. Refuses past the cap. */
  add(id: string, watch: Watch): () => void {
    if (this.count >= this.max) {
      throw new Refusal({
        code: 'RESOURCE_EXHAUSTED',
        message: `${this.count} waitFor calls already wait on this node, the most it holds (waitersMax)`,
        limit: 'waitersMax',
        retryAfterMs: 1000,
      });
    }
    this.attach();
    let set = this.byId.get(id);
    if (set === undefined) this.byId.set(id, (set = new Set()));
    set.add(watch);
    this.count += 1;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      this.count -= 1;
      set.delete(watch);
      if (set.size === 0 && this.byId.get(id) === set) this.byId.delete(id);
      if (this.count === 0) this.release();
    };
  }

  private attach(): void {
    if (this.detach !== null) return;
    const unsubscribe = this.executor.subscribe({}, (e: TaskEvent) => {
      if (!TERMINAL_STATES.includes(e.state)) return;
      for (const w of [...(this.byId.get(e.id) ?? [])]) w.onTerminal();
    });
    const offStepDown = this.executor.onStepDown(() => {
      for (const set of [...this.byId.values()]) for (const w of [...set]) w.onStepDown();
    });
    this.detach = () => {
      unsubscribe();
      offStepDown();
    };
  }

  private release(): void {
    const d = this.detach;
    this.detach = null;
    d?.();
  }
}

export interface WaitSpec {
  id: string;
  deadline: number;
  now(): number;
  setTimer(ms: number, fn: () => void): Timer;
  /** Registers an end-of-wait source (call cancelled, node shutting down); returns its removal. */
  onAbort(abort: (detail: Refusal) => void): () => void;
  /** The caller lets a follower forward the task reads to the leader (src/rpc/forward.ts). */
  forward?: boolean;
}

/**
 * Resolves with the read of task `id` once it is terminal. Watches before the first read so no
 * transition is missed between them; fails with UNAVAILABLE when this node steps down.
 */
export function waitTerminal(executor: ClientExecutor, watchers: TaskWatchers, spec: WaitSpec): Promise<ReadAnswer> {
  const cleanups: Array<() => void> = [];
  return new Promise<ReadAnswer>((resolve, reject) => {
    let settled = false;
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      for (const c of cleanups) c();
      f();
    };
    const fail = (r: Refusal): void => settle(() => reject(r));
    const check = checker(
      executor,
      spec,
      () => !settled,
      (read) => settle(() => resolve(read)),
      (e) => settle(() => reject(e)),
    );
    try {
      cleanups.push(
        watchers.add(spec.id, {
          onTerminal: check,
          onStepDown: () =>
            fail(new Refusal({ code: 'UNAVAILABLE', message: 'leader stepped down; wait again at the new leader' })),
        }),
      );
    } catch (e) {
      return reject(e);
    }
    const timer = spec.setTimer(Math.max(0, spec.deadline - spec.now()), () =>
      fail(new Refusal({ code: 'DEADLINE_EXCEEDED', message: `task ${spec.id} is not terminal yet` })),
    );
    cleanups.push(() => timer.cancel());
    cleanups.push(spec.onAbort(fail));
    check();
  });
}

/** Reads the task, one read at a time (a check during a read runs once more after it). */
function checker(
  executor: ClientExecutor,
  spec: WaitSpec,
  waiting: () => boolean,
  done: (read: ReadAnswer) => void,
  failed: (e: unknown) => void,
): () => void {
  let reading = false;
  let again = false;
  const check = (): void => {
    if (!waiting()) return;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    again = false;
    executor
      .read(
        { type: 'task', id: spec.id },
        { consistency: 'linearizable', deadline: spec.deadline, ...(spec.forward ? { forward: true } : {}) },
      )
      .then((read) => {
        reading = false;
        if (!read.answer.ok) return failed(new Refusal(read.answer.error));
        if (TERMINAL_STATES.includes(asObject(read.answer.value)['state'] as TaskState)) return done(read);
        if (again) check();
      })
      .catch((e: unknown) => {
        reading = false;
        failed(e);
      });
  };
  return check;
}
