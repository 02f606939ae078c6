// A cancel whose AbortSignal is made only when someone asks for it. Every Submit request had two
// AbortControllers (the stream's per-request cancel and the service's signal for the executor), yet
// only a held lease or a forwarded call ever listens: making them was a visible share of a leader's
// CPU per request (issue 11). Asked for after the cancel, the signal comes already aborted.
export class LazyAbort {
  private ctl: AbortController | null = null;
  private fired = false;
  private listeners: Array<() => void> | null = null;

  get aborted(): boolean {
    return this.fired;
  }

  get signal(): AbortSignal {
    if (this.ctl === null) {
      this.ctl = new AbortController();
      if (this.fired) this.ctl.abort();
    }
    return this.ctl.signal;
  }

  /** Calls `fn` once at the cancel; never if it came already (as an aborted signal's listener). */
  onAbort(fn: () => void): void {
    if (this.fired) return;
    (this.listeners ??= []).push(fn);
  }

  abort(): void {
    if (this.fired) return;
    this.fired = true;
    const listeners = this.listeners;
    this.listeners = null;
    if (listeners !== null) for (const fn of listeners) fn();
    this.ctl?.abort();
  }
}
