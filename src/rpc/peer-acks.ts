// When a peer stream's receiver acknowledges (gRPC Stream and the raw stream alike).
//
// Acknowledgements are cumulative: at the end of the turn that read the stream's first request
// (the sender learns at once that the peer is reachable), or `ackEvery` requests or `ackBytes`
// waiting, else `ackDelayMs` after the first request not yet acknowledged. Under load one per
// message cost as much as the message itself, and at idle one per heartbeat (and per answer) was
// several % of an idle cluster's CPU. The sender needs them only to free its in-flight slots (by
// count and by bytes: large Appends must not wait; 16 requests or 256 KiB are far below its
// budget) and to notice a peer that stopped reading (its deadline, 2.5 s, leaves 1.5 s past `ackDelayMs`).
export interface AckPolicy {
  ackEvery: number;
  ackBytes: number;
  ackDelayMs: number;
}

export class StreamAcks {
  private received = 0;
  private acked = 0;
  private unackedBytes = 0;
  private soon = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(
    private readonly policy: AckPolicy,
    private readonly send: (received: number) => void,
  ) {}

  /** One request of `bytes` was read (valid or not: the sender counts what it wrote). */
  received1(bytes: number): void {
    if (this.stopped) return;
    this.received += 1;
    this.unackedBytes += bytes;
    const p = this.policy;
    if (this.received === 1 || this.received - this.acked >= p.ackEvery || this.unackedBytes >= p.ackBytes) {
      if (!this.soon) {
        this.soon = true;
        setImmediate(this.flush);
      }
    } else if (this.timer === null && !this.soon) this.timer = setTimeout(this.flush, p.ackDelayMs);
  }

  /** Sends what is not yet acknowledged, now. */
  readonly flush = (): void => {
    this.soon = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped || this.received === this.acked) return;
    this.acked = this.received;
    this.unackedBytes = 0;
    this.send(this.received);
  };

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
