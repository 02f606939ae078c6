// One client session (DESIGN.md §1.5): sequence numbers, the lowest still-outstanding one (the
// floor sent with every request, so the state machine can forget answers below it), and liveness.

export class Session {
  private nextSeq = 1;
  private readonly outstanding = new Set<number>();
  /** When a command last went out on this session (clock ms), for keepalives. */
  lastSentAt = 0;
  expired = false;

  constructor(
    readonly id: string,
    readonly timeoutMs: number,
  ) {}

  allocate(): number {
    const seq = this.nextSeq;
    this.nextSeq += 1;
    this.outstanding.add(seq);
    return seq;
  }

  /** The answer to `seq` arrived, or the caller gave up on it: it needs no cached answer any more. */
  complete(seq: number): void {
    this.outstanding.delete(seq);
  }

  /** The lowest sequence number still awaited (the next one if none is). */
  floor(): number {
    let min = this.nextSeq;
    for (const s of this.outstanding) if (s < min) min = s;
    return min;
  }

  get outstandingCount(): number {
    return this.outstanding.size;
  }
}
