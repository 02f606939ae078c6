// The client end of the Submit stream (client.proto SubmitStream, issue 11): one long-lived stream
// (gRPC, or the raw lane of raw-submit.ts) per server address carries every Submit, each request
// matched to its reply by id. A request keeps the meaning of a Submit call: its own deadline (a
// timer here, and timeoutMs for the server), its own cancel (a cancel message, so a held lease stops
// holding), and when the stream breaks, the outcome of every unanswered request is unknown
// (UNAVAILABLE), as for a broken call. A refusal before the server accepted the stream (its headers)
// ran nothing and keeps its code.
import type * as grpc from '@grpc/grpc-js';
import type { ErrorDetail } from '../protocol/errors.js';
import { asObject, type Message } from '../protocol/wire-values.js';
import { systemClock } from './clock.js';
import { errorReplyDetail } from './coalesce.js';
import { Deadlines, type Deadline } from './deadlines.js';
import { CallCancel, TransportError } from './transport.js';

/** What the pipe uses of a client stream: grpc-js's SubmitStream call, or the raw lane's (raw-submit.ts). */
export interface SubmitDuplex {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each event's listener takes its own argument
  on(event: string, listener: (...args: any[]) => void): unknown;
  write(request: Message): unknown;
  cancel(): void;
}

interface Waiting {
  resolve(reply: Message): void;
  reject(e: TransportError): void;
  deadline: Deadline;
  signal: AbortSignal | CallCancel | undefined;
  onAbort: (() => void) | null;
}

export class SubmitPipe {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  /** The server sent its headers: it admitted the stream. */
  private accepted = false;
  private ended = false;
  private readonly deadlines = new Deadlines(systemClock);

  constructor(
    private readonly call: SubmitDuplex,
    /** The stream ended (a new Submit opens a new one); `unimplemented`: the server has no SubmitStream. */
    private readonly onEnd: (unimplemented: boolean) => void,
    /** A failed stream's detail (grpc-transport.ts detailFromServiceError). */
    private readonly detailOf: (err: grpc.ServiceError) => ErrorDetail,
    /** On the raw lane (raw-submit.ts), not gRPC. */
    readonly raw = false,
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
  submit(request: Message, timeoutMs: number, signal?: AbortSignal | CallCancel): Promise<Message> {
    if (this.ended) return Promise.reject(new TransportError({ code: 'UNAVAILABLE', message: 'submit stream closed' }));
    const id = this.nextId++;
    const ms = Math.max(1, Math.ceil(timeoutMs));
    return new Promise<Message>((resolve, reject) => {
      // Every request's deadline is on the pipe's one timer (deadlines.ts), not a timer each.
      const deadline = this.deadlines.add(performance.now() + ms, () => this.giveUp(id, deadlineExceeded()));
      const w: Waiting = { resolve, reject, deadline, signal, onAbort: null };
      this.waiting.set(id, w);
      if (signal === undefined) {
        this.call.write({ id, submit: request, timeoutMs: ms });
        return;
      }
      const onAbort = (): void => this.giveUp(id, cancelledOnClient());
      if (signal instanceof CallCancel ? signal.cancelled : signal.aborted) return onAbort();
      w.onAbort = onAbort;
      if (signal instanceof CallCancel) signal.listen(onAbort);
      else signal.addEventListener('abort', onAbort, { once: true });
      this.call.write({ id, submit: request, timeoutMs: ms });
    });
  }

  /** Ends the stream (the transport closes); unanswered requests fail as on a broken stream. */
  close(): void {
    if (this.ended) return;
    this.call.cancel();
    this.fail(null);
  }

  /** The caller stops waiting (deadline, abort): the server is told to stop too. */
  private giveUp(id: number, e: TransportError): void {
    const w = this.waiting.get(id);
    if (w === undefined || !this.settle(id)) return;
    w.reject(e);
    if (!this.ended) this.call.write({ id, cancel: true });
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
    this.detach(w);
    return true;
  }

  private detach(w: Waiting): void {
    this.deadlines.cancel(w.deadline);
    if (w.onAbort === null) return;
    if (w.signal instanceof CallCancel) w.signal.unlisten();
    else w.signal?.removeEventListener('abort', w.onAbort);
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
      this.detach(w);
      w.reject(new TransportError({ ...detail }, unimplemented));
    }
    this.onEnd(unimplemented);
  }
}

function deadlineExceeded(): TransportError {
  return new TransportError({ code: 'DEADLINE_EXCEEDED', message: 'Deadline exceeded (submit stream)' });
}

function cancelledOnClient(): TransportError {
  return new TransportError({ code: 'UNAVAILABLE', message: 'Cancelled on client' });
}
