// The SDK's event stream: an async iterator over an Events server stream, bounded, reconnecting after
// stream failures (events in between may be missed: reconcile with reads).
import type { TaskEvent } from '../protocol/commands.js';
import { EVENTS_WIRE } from '../protocol/wire-reads.js';
import type { Client } from './client.js';
import { raftqError } from './errors.js';

/** Task events; `ready` resolves once the node has subscribed (events after it are not missed). */
export type EventStream = AsyncIterableIterator<TaskEvent> & { ready: Promise<void> };

/** Reconnect back-off after a stream failure: 40 ms doubling up to 1 s. */
function reconnectDelayMs(failures: number): number {
  return Math.min(1_000, 20 * 2 ** Math.min(failures, 6));
}

class EventFeed {
  readonly ready: Promise<void>;
  private markReady: () => void = () => undefined;
  private readonly buffer: TaskEvent[] = [];
  private wake: (() => void) | null = null;
  private done = false;
  private failure: Error | null = null;
  private cancel: (() => void) | null = null;
  private failures = 0;

  constructor(
    private readonly client: Client,
    private readonly request: { queue?: string },
    private readonly bufferMax: number,
  ) {
    this.ready = new Promise<void>((resolve) => (this.markReady = resolve));
  }

  open(): void {
    if (this.done || this.client.isClosed) return this.stop(null);
    this.cancel = this.client.openStream(EVENTS_WIRE.request.encode(this.request), {
      onReady: () => this.markReady(),
      onMessage: (m) => {
        this.failures = 0;
        if (this.buffer.length >= this.bufferMax)
          return this.stop(raftqError('RESOURCE_EXHAUSTED', `more than ${this.bufferMax} events unread`));
        this.buffer.push(EVENTS_WIRE.message.decode(m));
        this.notify();
      },
      onEnd: () => {
        this.cancel = null;
        if (this.done) return;
        this.failures += 1;
        this.client.clock.setTimer(reconnectDelayMs(this.failures), () => this.open());
      },
    });
  }

  stop(err: Error | null): void {
    if (this.done) return;
    this.done = true;
    this.failure = err;
    this.markReady();
    this.cancel?.();
    this.cancel = null;
    this.notify();
  }

  async next(): Promise<IteratorResult<TaskEvent>> {
    for (;;) {
      const e = this.buffer.shift();
      if (e !== undefined) return { value: e, done: false };
      if (this.done) {
        if (this.failure !== null) throw this.failure;
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async return(): Promise<IteratorResult<TaskEvent>> {
    this.stop(null);
    this.buffer.length = 0;
    return { value: undefined, done: true };
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

/** An async iterator over an Events stream, bounded, reconnecting after stream failures. */
export function eventIterator(
  client: Client,
  request: { queue?: string },
  options: { signal?: AbortSignal; bufferMax?: number },
): EventStream {
  const feed = new EventFeed(client, request, options.bufferMax ?? 10_000);
  options.signal?.addEventListener('abort', () => feed.stop(null), { once: true });
  feed.open();
  const iterator: EventStream = {
    ready: feed.ready,
    next: () => feed.next(),
    return: () => feed.return(),
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
