// Time for the SDK, injectable so the retry, session and worker logic runs under the deterministic
// simulation and fake-clock tests. Durations are on a monotonic clock (docs/design.md §2 worker belief).

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /**
   * Calls `fn` after `ms`; the returned timer can be cancelled. A `weak` timer (session keepalives)
   * does not keep the process alive on its own; the others do, as a pending call would.
   */
  setTimer(ms: number, fn: () => void, weak?: boolean): Timer;
  /** Random number in [0, 1) for retry jitter. */
  random(): number;
  /**
   * Runs `fn` after the current event-loop turn (I/O callbacks of this turn first). A simulation
   * gives its own; clocks without one get the system's.
   */
  immediate?(fn: () => void): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(ms, fn, weak = false) {
    const t = setTimeout(fn, Math.max(0, ms));
    if (weak) t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
  random: () => Math.random(),
  immediate: (fn) => systemImmediate(fn),
};

/** After this event-loop turn, on the real event loop. */
export function systemImmediate(fn: () => void): void {
  setImmediate(fn);
}

/** Resolves after `ms` on `clock`, or early (resolving) when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      timer.cancel();
      resolve();
    };
    const timer = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The calendar clock (epoch ms): only for deadlines given as instants, such as gRPC's. */
export const systemWallNow = (): number => Date.now();
