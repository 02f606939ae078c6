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
}
