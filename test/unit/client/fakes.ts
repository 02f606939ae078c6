// Fakes for the SDK's logic tests: a manual clock, and a loopback transport that runs the real client
// service (proto encoding included) in-process over MachineExecutor "nodes" sharing one state machine.
import type * as grpc from '@grpc/grpc-js';
import type { Clock, Timer } from '../../../src/client/clock.js';
import { detailFromServiceError } from '../../../src/client/grpc-transport.js';
import {
  TransportError,
  type Message,
  type Method,
  type StreamHandlers,
  type StreamMethod,
  type Transport,
} from '../../../src/client/transport.js';
import type { SessionCommand } from '../../../src/protocol/commands.js';
import type { ErrorDetail } from '../../../src/protocol/errors.js';
import { clientServiceDefinition, createClientService, type ClientService } from '../../../src/rpc/client-service.js';
import type { ClientExecutor, ExecuteOptions, ExecuteResult, NodeStatus } from '../../../src/rpc/executor.js';
import { MachineExecutor } from './machine-executor.js';

/** Lets pending promise callbacks run (not a sleep: no time passes on any clock). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

export class FakeClock implements Clock {
  t = 1_000;
  private seq = 0;
  private seed = 42;
  private timers: Array<{ at: number; n: number; fn: () => void }> = [];

  now(): number {
    return this.t;
  }
  setTimer(ms: number, fn: () => void): Timer {
    const timer = { at: this.t + Math.max(0, ms), n: this.seq++, fn };
    this.timers.push(timer);
    return { cancel: () => (this.timers = this.timers.filter((x) => x !== timer)) };
  }
  random(): number {
    this.seed = (this.seed * 1103515245 + 12345) % 2 ** 31;
    return this.seed / 2 ** 31;
  }
  /** Moves time forward by ms, firing due timers in order and letting their effects settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.n - b.n)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
  get pendingTimers(): number {
    return this.timers.length;
  }
}

/** One node front: answers NOT_LEADER (with a hint) unless it is the leader of the shared machine. */
export class Front implements ClientExecutor {
  up = true;
  constructor(
    readonly cluster: FakeCluster,
    readonly id: string,
    readonly address: string,
  ) {}
  private notLeader(): ErrorDetail {
    const l = this.cluster.leader;
    const e: ErrorDetail = { code: 'NOT_LEADER', message: `${this.id} is not the leader` };
    if (l !== null) e.leaderHint = this.cluster.advertised(l);
    return e;
  }
  /** A follower that forwards (cluster.forwarding) runs the call on the leader's machine. */
  private serves(): boolean {
    return this.cluster.leader === this || (this.cluster.forwarding && this.cluster.leader !== null);
  }
  async execute(cmds: SessionCommand[], opts: ExecuteOptions): Promise<ExecuteResult> {
    if (!this.serves())
      return { answers: cmds.map(() => ({ ok: false, error: this.notLeader() })), index: 0, heldMs: 0 };
    return this.cluster.machine.execute(cmds, opts);
  }
  async read(
    q: Parameters<ClientExecutor['read']>[0],
    o: Parameters<ClientExecutor['read']>[1],
  ): ReturnType<ClientExecutor['read']> {
    if (!this.serves() || (this.cluster.leader !== this && o.consistency !== 'linearizable'))
      return { asOf: { index: 0, mono: 0, wall: 0 }, answer: { ok: false, error: this.notLeader() } };
    return this.cluster.machine.read(q, o);
  }
  status(): NodeStatus {
    const s = this.cluster.machine.status();
    const l = this.cluster.leader;
    const roleOf = (f: Front) => (l === f ? 'leader' : 'follower');
    return {
      ...s,
      id: this.id,
      role: roleOf(this),
      leader: l?.id ?? null,
      leaderAddress: l === null ? null : this.cluster.advertised(l),
      members: this.cluster.fronts.map((f) => ({
        id: f.id,
        address: this.cluster.advertised(f),
        role: roleOf(f),
        term: 1,
        commitIndex: 0,
        appliedIndex: 0,
      })),
      ...(this.cluster.electionTimeoutMs ? { electionTimeoutMs: this.cluster.electionTimeoutMs } : {}),
    };
  }
  subscribe(f: { queue?: string }, cb: Parameters<ClientExecutor['subscribe']>[1]): () => void {
    return this.cluster.machine.subscribe(f, cb);
  }
  onStepDown(cb: () => void): () => void {
    return this.cluster.machine.onStepDown(cb);
  }
}

export type Interceptor = (address: string, method: Method, request: Message) => 'drop-reply' | ErrorDetail | null;

/** Nodes n1..nN over one MachineExecutor, reachable through a LoopbackTransport. */
export class FakeCluster {
  readonly machine: MachineExecutor;
  readonly fronts: Front[] = [];
  leader: Front | null;
  /** What the nodes report as their election timeout in Status (absent: not reported). */
  electionTimeoutMs: { min: number; max: number } | null = null;
  /** Followers forward commands and linearizable reads to the leader (issue 18) instead of NOT_LEADER. */
  forwarding = false;
  /** The address a node advertises to clients when it differs from the one it is reached at. */
  readonly advertise = new Map<string, string>();
  private readonly services = new Map<string, ClientService>();

  constructor(
    readonly clock: FakeClock,
    nodes = 3,
  ) {
    this.machine = new MachineExecutor('m', 'm', () => clock.now());
    for (let i = 1; i <= nodes; i++) {
      const f = new Front(this, `n${i}`, `10.0.0.${i}:7000`);
      this.fronts.push(f);
      this.services.set(f.address, createClientService(f, { clock }));
    }
    this.leader = this.fronts[0] ?? null;
  }

  advertised(f: Front): string {
    return this.advertise.get(f.id) ?? f.address;
  }

  get addresses(): string[] {
    return this.fronts.map((f) => f.address);
  }

  service(address: string): ClientService | undefined {
    return this.services.get(address);
  }
}

const definition = clientServiceDefinition();

/**
 * A Transport that runs each call through the real service implementation of the addressed node,
 * with protobuf encoding both ways and the error trailer parsed as the gRPC transport does.
 */
export class LoopbackTransport implements Transport {
  readonly calls: Array<{ address: string; method: Method; request: Message; at: number }> = [];
  intercept: Interceptor | null = null;
  /** Status answers take this long on the fake clock (a network round trip; 0: at once). */
  statusDelayMs = 0;

  constructor(private readonly cluster: FakeCluster) {}

  async call(
    address: string,
    method: Method,
    request: Message,
    _timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Message> {
    this.calls.push({ address, method, request, at: this.cluster.clock.now() });
    const front = this.cluster.fronts.find((f) => f.address === address);
    const service = this.cluster.service(address);
    if (front === undefined || service === undefined || !front.up) {
      throw new TransportError({ code: 'UNAVAILABLE', message: `connect ${address}: refused` });
    }
    if (method === 'Status' && this.statusDelayMs > 0) await this.delay(this.statusDelayMs, signal);
    const verdict = this.intercept?.(address, method, request) ?? null;
    if (verdict !== null && verdict !== 'drop-reply') throw new TransportError(verdict);
    const m = definition[method] as grpc.MethodDefinition<unknown, unknown>;
    const decoded = m.requestDeserialize(m.requestSerialize(request) as Buffer);
    const reply = await new Promise<Message>((resolve, reject) => {
      const fakeCall = {
        request: decoded,
        getDeadline: () => Infinity,
        on: (ev: string, fn: () => void) => (ev === 'cancelled' ? signal?.addEventListener('abort', fn) : undefined),
      };
      const impl = service.implementation[method] as (c: unknown, cb: grpc.sendUnaryData<unknown>) => void;
      impl(fakeCall, (err, value) => {
        if (err) reject(new TransportError(detailFromServiceError(err as grpc.ServiceError)));
        else resolve(m.responseDeserialize(m.responseSerialize(value) as Buffer) as Message);
      });
    });
    if (verdict === 'drop-reply')
      throw new TransportError({ code: 'UNAVAILABLE', message: 'connection reset (reply lost)' });
    return reply;
  }

  /** A slow answer on the fake clock; the caller's signal ends it as gRPC's would (CANCELLED). */
  private delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const cancelled = (): void => {
        timer.cancel();
        reject(new TransportError({ code: 'CANCELLED', message: 'call cancelled' }));
      };
      const timer = this.cluster.clock.setTimer(ms, () => {
        signal?.removeEventListener('abort', cancelled);
        resolve();
      });
      if (signal?.aborted === true) cancelled();
      else signal?.addEventListener('abort', cancelled, { once: true });
    });
  }

  stream(_address: string, _method: StreamMethod, _request: Message, handlers: StreamHandlers): () => void {
    handlers.onEnd({ code: 'UNAVAILABLE', message: 'no streams in the loopback transport' });
    return () => undefined;
  }

  close(): void {}

  count(method: Method): number {
    return this.calls.filter((c) => c.method === method).length;
  }
}
