// The SDK's view of the network: unary calls and server streams to one address, with proto-shaped
// requests and replies (src/protocol/client.proto). The gRPC implementation is grpc-transport.ts;
// tests and the simulation plug in their own.
import type { ErrorDetail } from '../protocol/errors.js';
import type { ReadMethod } from '../protocol/wire-reads.js';
import type { Message } from '../protocol/wire-values.js';
import type { CommandMethod } from '../protocol/wire.js';

/** The unary methods of client.proto: the wire contract's commands and reads, and the rest. */
export type Method = CommandMethod | ReadMethod | 'Status' | 'WaitFor' | 'Submit';

export type StreamMethod = 'Events';

/** A proto-shaped message (the wire contract's, src/protocol/wire-values.ts). */
export type { Message } from '../protocol/wire-values.js';

/** A failed call: the error detail of docs/design.md §5 (connection failures are UNAVAILABLE). */
export class TransportError extends Error {
  constructor(
    readonly detail: ErrorDetail,
    /** The server does not know the method (gRPC UNIMPLEMENTED): an older node, nothing ran. */
    readonly unimplemented = false,
  ) {
    super(`${detail.code}: ${detail.message}`);
    this.name = 'TransportError';
  }
}

/**
 * What an AbortSignal does for one call, without its cost (an EventTarget and its listener lists,
 * per Submit: issue 11): the caller cancels, the transport listens with one listener at a time.
 */
export class CallCancel {
  private listener: (() => void) | null = null;
  private fired = false;

  get cancelled(): boolean {
    return this.fired;
  }

  /** `fn` runs at the cancel (never if it came already: check `cancelled` first), replacing any earlier one. */
  listen(fn: () => void): void {
    if (!this.fired) this.listener = fn;
  }

  unlisten(): void {
    this.listener = null;
  }

  cancel(): void {
    if (this.fired) return;
    this.fired = true;
    const fn = this.listener;
    this.listener = null;
    fn?.();
  }
}

export interface StreamHandlers {
  /** The server accepted the stream (it has subscribed): later events will be delivered. */
  onReady?(): void;
  onMessage(msg: Message): void;
  /** The stream ended: null after a clean end, else why. Called once. */
  onEnd(error: ErrorDetail | null): void;
}

export interface Transport {
  /**
   * One unary call. Rejects with a TransportError. `timeoutMs` bounds the call; `signal` cancels it
   * (rejecting with a CANCELLED-like UNAVAILABLE error).
   */
  call(address: string, method: Method, request: Message, timeoutMs: number, signal?: AbortSignal): Promise<Message>;
  /** Opens a server stream; the returned function cancels it (onEnd is then not called). */
  stream(address: string, method: StreamMethod, request: Message, handlers: StreamHandlers): () => void;
  close(): void;
  /**
   * Whether a Submit to `address` travels on a stream (grpc-transport.ts SubmitPipe), so a Submit of
   * one command costs no more than its own call would: the coalescer then sends every command,
   * held leases included, as a Submit. Absent: false.
   */
  streamsSubmit?(address: string): boolean;
  /** `call`, cancelled by a CallCancel instead of a signal (the coalescer's Submits use it when offered). */
  callCancellable?(
    address: string,
    method: Method,
    request: Message,
    timeoutMs: number,
    cancel: CallCancel,
  ): Promise<Message>;
}
