// The client end of the Submit stream (client.proto SubmitStream, issue 11): one long-lived gRPC
// stream per server address carries every Submit, each request matched to its reply by id. A
// request keeps the meaning of a Submit call: its own deadline (a timer here, and timeoutMs for the
// server), its own cancel (a cancel message, so a held lease stops holding), and when the stream
// breaks, the outcome of every unanswered request is unknown (UNAVAILABLE), as for a broken call.
// A refusal before the server accepted the stream (its headers) ran nothing and keeps its code.
import type * as grpc from '@grpc/grpc-js';
import type { ErrorDetail } from '../protocol/errors.js';
import { asObject, type Message } from '../protocol/wire-values.js';
import { errorReplyDetail } from './coalesce.js';
import { TransportError } from './transport.js';

export type SubmitDuplex = grpc.ClientDuplexStream<Message, Message>;

interface Waiting {
  resolve(reply: Message): void;
  reject(e: TransportError): void;
  timer: ReturnType<typeof setTimeout>;
  detach(): void;
}

export class SubmitPipe {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  /** The server sent its headers: it admitted the stream. */
  private accepted = false;
  private ended = false;

  constructor(
    private readonly call: SubmitDuplex,
    /** The stream ended (a new Submit opens a new one); `unimplemented`: the server has no SubmitStream. */
    private readonly onEnd: (unimplemented: boolean) => void,
    /** A failed stream's detail (grpc-transport.ts detailFromServiceError). */
    private readonly detailOf: (err: grpc.ServiceError) => ErrorDetail,
  ) {
    call.on('metadata', () => (this.accepted = true));
    call.on('data', (m: Message) => this.onReply(m));
    call.on('error', (err: grpc.ServiceError) => this.fail(err));
    call.on('end', () => this.fail(null));
  }

  get open(): boolean {
    return !this.ended;
  }

  /** Requests not answered yet. */
  get inFlight(): number {
    return this.waiting.size;
  }

  /** One Submit: the SubmitReply, or a TransportError as the Submit call would have failed. */
  submit(request: Message, timeoutMs: number, signal?: AbortSignal): Promise<Message> {
    if (this.ended) return Promise.reject(new TransportError({ code: 'UNAVAILABLE', message: 'submit stream closed' }));
    const id = this.nextId++;
    const ms = Math.max(1, Math.ceil(timeoutMs));
    return new Promise<Message>((resolve, reject) => {
      const giveUp = (e: TransportError): void => {
        if (!this.settle(id)) return;
        reject(e);
        if (!this.ended) this.call.write({ id, cancel: true });
      };
      const onAbort = (): void => giveUp(new TransportError({ code: 'UNAVAILABLE', message: 'Cancelled on client' }));
      const timer = setTimeout(
        () => giveUp(new TransportError({ code: 'DEADLINE_EXCEEDED', message: 'Deadline exceeded (submit stream)' })),
        ms,
      );
      this.waiting.set(id, {
        resolve,
        reject,
        timer,
        detach: () => signal?.removeEventListener('abort', onAbort),
      });
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.call.write({ id, submit: request, timeoutMs: ms });
    });
  }

  /** Ends the stream (the transport closes); unanswered requests fail as on a broken stream. */
  close(): void {
    if (this.ended) return;
    this.call.cancel();
    this.fail(null);
  }

  private onReply(m: Message): void {
    const id = m['id'];
    if (typeof id !== 'number') return;
    const w = this.waiting.get(id);
    if (w === undefined || !this.settle(id)) return; // answered after its caller gave up
    const error = m['error'];
    if (typeof error === 'object' && error !== null) w.reject(new TransportError(errorReplyDetail(asObject(error))));
    else w.resolve(asObject(m['submit']));
  }

  /** Removes request `id` from the waiting ones: false when it was settled already. */
  private settle(id: number): boolean {
    const w = this.waiting.get(id);
    if (w === undefined) return false;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    w.detach();
    return true;
  }

  private fail(err: grpc.ServiceError | null): void {
    if (this.ended) return;
    this.ended = true;
    const unimplemented = err !== null && err.code === 12; // grpc status UNIMPLEMENTED
    const detail: ErrorDetail =
      err === null
        ? { code: 'UNAVAILABLE', message: 'submit stream ended' }
        : this.accepted
          ? { code: 'UNAVAILABLE', message: `submit stream broke: ${this.detailOf(err).message}` }
          : this.detailOf(err);
    const waiting = [...this.waiting.entries()];
    this.waiting.clear();
    for (const [, w] of waiting) {
      clearTimeout(w.timer);
      w.detach();
      w.reject(new TransportError({ ...detail }, unimplemented));
    }
    this.onEnd(unimplemented);
  }
}
