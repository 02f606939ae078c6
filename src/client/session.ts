// One client session (docs/design.md §1.5): sequence numbers, the lowest still-outstanding one (the
// floor sent with every request, so the state machine can forget answers below it), and liveness.

export class Session {
  private nextSeq = 1;
  /** floor() so far: no outstanding number is below it. */
  private low = 1;
  private readonly outstanding = new Set<number>();
  /** When a command last went out on this session (clock ms), for keepalives. */
  lastSentAt = 0;
  expired = false;

  constructor(
    readonly id: string,
    readonly timeoutMs: number,
  ) {}

  private waiters: Array<() => void> = [];

  /**
   * A new sequence number once the window from the floor to it stays below `window`: the server
   * caches every answer above the floor and refuses a session whose cache is full, so callers beyond
   * the window wait here (bounded buffering) instead of being refused.
   */
  async allocateWithin(window: number): Promise<number> {
    for (let rounds = 0; this.nextSeq - this.floor() >= window && !this.expired; rounds++) {
      if (rounds > 1_000_000) throw new Error('session window never opened');
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return this.allocate();
  }

  /** allocateWithin without waiting: the number when the window has room now, else null. */
  tryAllocate(window: number): number | null {
    return this.nextSeq - this.floor() >= window && !this.expired ? null : this.allocate();
  }

  allocate(): number {
    const seq = this.nextSeq;
    this.nextSeq += 1;
    this.outstanding.add(seq);
    return seq;
  }

  /** The answer to `seq` arrived, or the caller gave up on it: it needs no cached answer any more. */
  complete(seq: number): void {
    this.outstanding.delete(seq);
    if (this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }

  /** Wakes every caller waiting for the window (the session expired or was dropped). */
  release(): void {
    this.expired = true;
    this.complete(-1);
  }

  /**
   * The lowest sequence number still awaited (the next one if none is). It never goes down (new
   * numbers are above every earlier one; answers only remove), so a pointer walks up to it: O(1)
   * amortised, where a scan of `outstanding` cost O(n) per command under a backlog.
   */
  floor(): number {
    while (this.low < this.nextSeq && !this.outstanding.has(this.low)) this.low += 1;
    return this.low;
  }

  get outstandingCount(): number {
    return this.outstanding.size;
  }
}
