// The network between SDK clients and the nodes' client services: each call is encoded and decoded
// with the real proto definitions and runs through the real client service (src/rpc) of the
// addressed node, with delays, lost requests, lost replies and per-link blackouts, so the SDK's
// retries, leader following and session logic run as they would over gRPC.
import type * as grpc from '@grpc/grpc-js';
import { errorReplyDetail } from '../../../src/client/coalesce.js';
import { detailFromServiceError } from '../../../src/client/grpc-transport.js';
import {
  TransportError,
  type Message,
  type Method,
  type StreamHandlers,
  type StreamMethod,
  type Transport,
} from '../../../src/client/transport.js';
import type { ErrorDetail } from '../../../src/protocol/errors.js';
import { COMMAND_OF_SUBMIT_FIELD, COMMAND_WIRE } from '../../../src/protocol/wire.js';
import type { Rng } from '../../../src/raft/rng.js';
import { clientServiceDefinition, type ClientService } from '../../../src/rpc/client-service.js';
import type { ClientClock } from './clocks.js';
import type { Scheduler } from './scheduler.js';

export interface Endpoint {
  address: string;
  idx: number;
  /** The current life's client service, null while the node is down. */
  service: ClientService | null;
  /** Calls in flight at this node's current life: a crash resets them. */
  inflight: Set<(why: string) => void>;
  /** The node's calendar clock (its client service's wallNow): a call's gRPC deadline is an instant on it. */
  wallNow(): number;
}

/**
 * What the hooks see, per command: a Submit (the SDK's coalesced batch) is unpacked into the unary
 * calls it stands for, so the simulation's bookkeeping and its history do not depend on coalescing.
 */
export interface CallHooks {
  /** A request leaves the client (every attempt). */
  sent(client: string, method: Method, request: Message): void;
  /** A reply reached the client (before the SDK sees it). */
  replied(client: string, method: Method, request: Message, reply: Message): void;
  /** A server's error answer reached the client (not a transport failure). */
  failed?(client: string, method: Method, request: Message, detail: ErrorDetail): void;
}

export class ClientNet {
  loss = 0;
  delayMaxMs = 3;
  /** blackout[`${client}/${nodeIdx}`]: both directions dropped. */
  readonly blackout = new Set<string>();
  /** Submit calls sent (every attempt) and the commands they carried. */
  submitCalls = 0;
  submitItems = 0;
  /** Event streams that reached a node's client service, and the streams cut by the network. */
  streamsOpened = 0;
  streamsCut = 0;
  private readonly definition = clientServiceDefinition();

  constructor(
    readonly sched: Scheduler,
    readonly rng: Rng,
    readonly endpoints: Endpoint[],
    readonly hooks: CallHooks,
  ) {}

  delay(): number {
    return 0.3 + this.rng.float() * this.delayMaxMs;
  }

  cut(client: string, node: number): boolean {
    return this.blackout.has(`${client}/${node}`) || this.rng.float() < this.loss;
  }

  codec(method: Method | StreamMethod): grpc.MethodDefinition<unknown, unknown> {
    return this.definition[method] as grpc.MethodDefinition<unknown, unknown>;
  }
}

export class SimTransport implements Transport {
  constructor(
    private readonly net: ClientNet,
    readonly name: string,
    private readonly clock: ClientClock,
  ) {}

  call(address: string, method: Method, request: Message, timeoutMs: number, signal?: AbortSignal): Promise<Message> {
    const net = this.net;
    return new Promise<Message>((resolve, reject) => {
      let done = false;
      const cancelHandlers: Array<() => void> = [];
      const finish = (f: () => void): void => {
        if (done) return;
        done = true;
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        f();
      };
      const fail = (code: 'UNAVAILABLE' | 'DEADLINE_EXCEEDED', message: string): void =>
        finish(() => reject(new TransportError({ code, message })));
      const timer = this.clock.setTimer(timeoutMs, () => fail('DEADLINE_EXCEEDED', `${method} timed out`));
      const onAbort = (): void => {
        for (const h of cancelHandlers) h();
        fail('UNAVAILABLE', 'cancelled');
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort);
      const ep = net.endpoints.find((e) => e.address === address);
      const commands = commandsOf(method, request);
      if (method === 'Submit') {
        net.submitCalls++;
        net.submitItems += commands.length;
      }
      for (const c of commands) net.hooks.sent(this.name, c.method, c.request);
      if (ep === undefined) {
        net.sched.after(net.delay(), () => fail('UNAVAILABLE', `resolve ${address}: unknown host`));
        return;
      }
      if (net.cut(this.name, ep.idx)) return; // request lost: the call times out
      const m = net.codec(method);
      const decoded = m.requestDeserialize(m.requestSerialize(request) as Buffer);
      net.sched.after(net.delay(), () => {
        const service = ep.service;
        if (done) return;
        if (service === null) return fail('UNAVAILABLE', `connect ${address}: refused`);
        const inflight = ep.inflight;
        const reset = (why: string): void => fail('UNAVAILABLE', why);
        inflight.add(reset);
        const cancelled: Array<() => void> = [];
        cancelHandlers.push(() => {
          for (const c of cancelled) c();
        });
        // As grpc-js does: the call's timeout travels (grpc-timeout) and the server's deadline is
        // its arrival plus that timeout, on the server's calendar clock.
        const deadline = new Date(ep.wallNow() + timeoutMs);
        const fakeCall = {
          request: decoded,
          getDeadline: () => deadline,
          on: (ev: string, fn: () => void) => {
            if (ev === 'cancelled') cancelled.push(fn);
          },
        };
        const impl = service.implementation[method] as (c: unknown, cb: grpc.sendUnaryData<unknown>) => void;
        impl(fakeCall, (err, value) => {
          // A reply from a life that crashed meanwhile never leaves the machine.
          if (!inflight.has(reset) || ep.inflight !== inflight) return;
          inflight.delete(reset);
          if (done) return;
          if (net.cut(this.name, ep.idx)) {
            // Reply lost: the client sees a reset connection a little later.
            net.sched.after(net.delay(), () => fail('UNAVAILABLE', 'connection reset (reply lost)'));
            return;
          }
          const encoded = err ? null : m.responseSerialize(value);
          net.sched.after(net.delay(), () => {
            if (done) return;
            if (err) {
              const detail = detailFromServiceError(err as grpc.ServiceError);
              for (const c of commandsOf(method, request)) net.hooks.failed?.(this.name, c.method, c.request, detail);
              return finish(() => reject(new TransportError(detail)));
            }
            const reply = m.responseDeserialize(encoded as Buffer) as Message;
            replied(net.hooks, this.name, method, request, reply);
            finish(() => resolve(reply));
          });
        });
      });
    });
  }

  /**
   * A server stream through the node's real client service: messages keep their order, a message
   * the network drops resets the stream (as a broken connection would), a crash ends it.
   */
  stream(address: string, method: StreamMethod, request: Message, handlers: StreamHandlers): () => void {
    const net = this.net;
    const m = net.codec(method);
    /** The client still listens (no onEnd yet, not cancelled). */
    let listening = true;
    /** The server side is attached and not ended. */
    let serving = false;
    let serverCancelled: Array<() => void> = [];
    let lastAt = net.sched.now;
    let detach: () => void = () => undefined;
    const deliver = (f: () => void): void => {
      lastAt = Math.max(lastAt, net.sched.now + net.delay());
      net.sched.at(lastAt, () => {
        if (listening) f();
      });
    };
    const endClient = (detail: ErrorDetail | null): void =>
      deliver(() => {
        listening = false;
        handlers.onEnd(detail);
      });
    /** The server side stops (end, error, reset, cancel): at most once. */
    const stopServing = (): boolean => {
      if (!serving) return false;
      serving = false;
      detach();
      return true;
    };
    const ep = net.endpoints.find((e) => e.address === address);
    if (ep === undefined) {
      endClient({ code: 'UNAVAILABLE', message: `resolve ${address}: unknown host` });
    } else if (net.cut(this.name, ep.idx)) {
      endClient({ code: 'UNAVAILABLE', message: `connect ${address}: no route (blackout)` });
    } else {
      const decoded = m.requestDeserialize(m.requestSerialize(request) as Buffer);
      net.sched.after(net.delay(), () => {
        const service = ep.service;
        if (!listening) return;
        if (service === null) return endClient({ code: 'UNAVAILABLE', message: `connect ${address}: refused` });
        net.streamsOpened++;
        const inflight = ep.inflight;
        const reset = (why: string): void => {
          if (stopServing()) endClient({ code: 'UNAVAILABLE', message: why });
        };
        inflight.add(reset);
        detach = () => inflight.delete(reset);
        serving = true;
        const cancelled: Array<() => void> = [];
        serverCancelled = cancelled;
        const fakeStream = {
          request: decoded,
          writableLength: 0,
          getDeadline: () => Infinity,
          sendMetadata: () => {
            if (serving) deliver(() => handlers.onReady?.());
          },
          write: (msg: unknown) => {
            if (!serving) return true;
            if (net.cut(this.name, ep.idx)) {
              // The message is lost: the connection breaks, both ends see the stream end.
              net.streamsCut++;
              stopServing();
              for (const c of cancelled) c();
              endClient({ code: 'UNAVAILABLE', message: 'connection reset (message lost)' });
              return true;
            }
            const bytes = m.responseSerialize(msg);
            deliver(() => handlers.onMessage(m.responseDeserialize(bytes) as Message));
            return true;
          },
          end: () => {
            if (stopServing()) endClient(null);
          },
          emit: (ev: string, err: unknown) => {
            if (ev === 'error' && stopServing()) endClient(detailFromServiceError(err as grpc.ServiceError));
            return true;
          },
          on: (ev: string, fn: () => void) => {
            if (ev === 'cancelled') cancelled.push(fn);
          },
        };
        (service.implementation[method] as (c: unknown) => void)(fakeStream);
      });
    }
    return () => {
      listening = false;
      if (!stopServing()) return;
      // The cancellation travels to the server.
      const fire = serverCancelled;
      net.sched.after(net.delay(), () => {
        for (const c of fire) c();
      });
    };
  }

  close(): void {}
}

interface Command {
  method: Method;
  request: Message;
  /** The SubmitItem / SubmitResult field, for a command inside a Submit. */
  field?: string;
}

/** The unary commands a call stands for: itself, or each item of a Submit. */
function commandsOf(method: Method, request: Message): Command[] {
  if (method !== 'Submit') return [{ method, request }];
  const items = Array.isArray(request['items']) ? (request['items'] as Message[]) : [];
  return items.flatMap((item): Command[] => {
    const field = [...COMMAND_OF_SUBMIT_FIELD.keys()].find((f) => item[f] !== undefined && item[f] !== null);
    if (field === undefined) return [];
    return [
      {
        method: COMMAND_WIRE[COMMAND_OF_SUBMIT_FIELD.get(field) as keyof typeof COMMAND_WIRE].method as Method,
        request: item[field] as Message,
        field,
      },
    ];
  });
}

/** Reports a reply per command: a Submit's results one by one (an item's error as a failure). */
function replied(hooks: CallHooks, client: string, method: Method, request: Message, reply: Message): void {
  if (method !== 'Submit') return hooks.replied(client, method, request, reply);
  const results = Array.isArray(reply['results']) ? (reply['results'] as Message[]) : [];
  commandsOf(method, request).forEach((c, i) => {
    const r = results[i] ?? {};
    const error = r['error'] as Message | undefined;
    if (r['result'] === 'error' && error !== undefined)
      hooks.failed?.(client, c.method, c.request, errorReplyDetail(error));
    else if (c.field !== undefined && r[c.field] !== undefined)
      hooks.replied(client, c.method, c.request, r[c.field] as Message);
  });
}
