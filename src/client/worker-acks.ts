// The worker's ack batcher: acks of finished tasks are coalesced for a few ms (or up to a batch) into
// one `queue.ackMany` (one ack command); each item still learns its own outcome.
import type { Clock, Timer } from './clock.js';
import type { Queue } from './queue.js';

/** One ack: the result already encoded (the worker checked its size). */
export interface AckEntry {
  id: string;
  token: string;
  resultBytes?: Uint8Array;
}

interface PendingAck {
  item: AckEntry;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class AckBatcher {
  private pending: PendingAck[] = [];
  private timer: Timer | null = null;
  private readonly flights = new Set<Promise<void>>();

  constructor(
    private readonly api: Pick<Queue<unknown>, 'ackMany'>,
    private readonly clock: Clock,
    private readonly delayMs: number,
    private readonly batchMax: number,
  ) {}

  /** Resolves once the ack is applied; rejects with its error (e.g. LEASE_LOST). */
  add(item: AckEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.batchMax) this.flush();
      else this.timer ??= this.clock.setTimer(this.delayMs, () => this.flush());
    });
  }

  /** Sends every queued ack now. */
  flush(): void {
    this.timer?.cancel();
    this.timer = null;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.batchMax);
      const flight = this.send(batch).finally(() => this.flights.delete(flight));
      this.flights.add(flight);
    }
  }

  /** Resolves when every ack sent so far has its answer. */
  async drained(): Promise<void> {
    await Promise.all([...this.flights]);
  }

  private async send(batch: PendingAck[]): Promise<void> {
    try {
      const results = await this.api.ackMany(batch.map((a) => a.item));
      batch.forEach((a, i) => {
        const r = results[i];
        if (results.length === batch.length && r !== undefined && !r.ok) a.reject(r.error);
        else a.resolve();
      });
    } catch (e) {
      for (const a of batch) a.reject(e);
    }
  }
}
