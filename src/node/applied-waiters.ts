// Callers waiting until the driver's applied index reaches theirs (admin: membership, backups), each
// with a deadline on the injected timers.
import type { Timers } from './driver-types.js';

export class AppliedWaiters {
  private readonly waiters = new Set<(applied: number) => void>();

  constructor(private readonly timers: Timers) {}

  /** Resolves once `notify` reports applied ≥ index (at once if `applied` already is), or rejects at ms. */
  wait(applied: number, index: number, ms: number): Promise<void> {
    if (applied >= index) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (now: number): void => {
        if (now < index) return;
        this.waiters.delete(check);
        this.timers.clearTimeout(timer);
        resolve();
      };
      const timer = this.timers.setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`applied index did not reach ${index} within ${ms} ms`));
      }, ms);
      this.waiters.add(check);
    });
  }

  notify(applied: number): void {
    if (this.waiters.size === 0) return;
    for (const w of [...this.waiters]) w(applied);
  }
}
