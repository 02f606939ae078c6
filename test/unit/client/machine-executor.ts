// A ClientExecutor for tests: one in-process "node" that applies each call as its own entry to a real
// QueueStateMachine (no Raft), with long-poll leases, task events, leadership switches and fault
// hooks. Shared by the client-service tests and the SDK's end-to-end tests.
import { encodeEnvelope } from '../../../src/protocol/codec.js';
import type { ReadAnswer, ReadQuery, SessionCommand, TaskEvent } from '../../../src/protocol/commands.js';
import type { ErrorDetail } from '../../../src/protocol/errors.js';
import type { ClientExecutor, ExecuteOptions, ExecuteResult, NodeStatus } from '../../../src/rpc/executor.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { asLogIndex, asTerm, type LogIndex } from '../../../src/protocol/ids.js';
import { afterAll, beforeAll } from 'vitest';
import { Client } from '../../../src/client/index.js';
import { ClientServer } from '../../../src/rpc/client-server.js';

export class MachineExecutor implements ClientExecutor {
  readonly machine: QueueStateMachine;
  private index = 0;
  private readonly subscribers = new Set<{ queue?: string; fn: (e: TaskEvent) => void }>();
  private readonly stepDownCbs = new Set<() => void>();
  private appliedWaiters: Array<() => void> = [];
  leader = true;
  leaderHint: string | undefined;
  /** Fault hook: return an error to answer instead of applying (per command). */
  intercept: ((sc: SessionCommand) => ErrorDetail | null) | null = null;
  /** Added to the mono stamp: lets tests move lease time forward. */
  monoOffset = 0;
  readonly executed: SessionCommand[] = [];

  constructor(
    readonly id = 'n1',
    readonly address = '127.0.0.1:0',
    private readonly now: () => number = () => performance.now(),
    machineOptions: ConstructorParameters<typeof QueueStateMachine>[0] = {},
  ) {
    this.machine = new QueueStateMachine(machineOptions);
  }

  private stamp(): { mono: number; wall: number } {
    return { mono: Math.floor(this.now()) + this.monoOffset, wall: Date.now() };
  }

  /** Applies commands as one entry; publishes its events. */
  applyNow(cmds: SessionCommand[]): { answers: ExecuteResult['answers']; index: LogIndex } {
    this.index += 1;
    const { mono, wall } = this.stamp();
    const out = this.machine.apply(asLogIndex(this.index), encodeEnvelope({ v: 1, mono, wall, cmds }), asTerm(1)); // term 1, as status says
    for (const e of this.machine.drainEvents()) {
      for (const s of this.subscribers) if (s.queue === undefined || s.queue === e.queue) s.fn(e);
    }
    const waiters = this.appliedWaiters;
    this.appliedWaiters = [];
    for (const w of waiters) w();
    return { answers: out.map((a) => a.answer), index: asLogIndex(this.index) };
  }

  /** An entry with no commands, so due transitions (lease expiry, delays) run. */
  tick(): void {
    this.applyNow([]);
  }

  async execute(cmds: SessionCommand[], opts: ExecuteOptions): Promise<ExecuteResult> {
    const received = this.now();
    this.executed.push(...cmds);
    if (!this.leader) {
      const error: ErrorDetail = { code: 'NOT_LEADER', message: 'not the leader' };
      if (this.leaderHint !== undefined) error.leaderHint = this.leaderHint;
      return { answers: cmds.map(() => ({ ok: false, error })), index: 0, heldMs: 0 };
    }
    const fault = cmds.map((sc) => this.intercept?.(sc) ?? null);
    if (fault.some((f) => f !== null)) {
      return {
        answers: fault.map((f) => ({ ok: false, error: f ?? { code: 'INTERNAL', message: 'x' } })),
        index: 0,
        heldMs: 0,
      };
    }
    const hold = opts.maxHoldMs ?? 0;
    const lease = cmds.length === 1 && cmds[0]?.cmd.type === 'lease' ? cmds[0].cmd : null;
    // Hold a lease request (before its entry, as the real node does) until a task is ready.
    while (lease !== null && hold > 0 && !this.hasReady(lease.queue) && !opts.signal?.aborted) {
      const left = received + hold - this.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 20));
        this.appliedWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
      if (!this.leader) return this.execute(cmds, { deadline: opts.deadline });
    }
    const r = this.applyNow(cmds);
    return { ...r, heldMs: this.now() - received };
  }

  private hasReady(queue: string): boolean {
    const a = this.machine.read({ type: 'stats', queue }).answer;
    return a.ok && (a.value as { counts: { waiting: number } }).counts.waiting > 0;
  }

  async read(
    query: ReadQuery,
    _opts: { consistency: 'linearizable' | 'stale'; deadline: number },
  ): Promise<ReadAnswer> {
    if (!this.leader) {
      const error: ErrorDetail = { code: 'NOT_LEADER', message: 'not the leader' };
      if (this.leaderHint !== undefined) error.leaderHint = this.leaderHint;
      return { asOf: { index: this.index, mono: 0, wall: 0 }, answer: { ok: false, error } };
    }
    return this.machine.read(query);
  }

  status(): NodeStatus {
    const role = this.leader ? 'leader' : 'follower';
    return {
      id: this.id,
      clusterId: 'c-test',
      leader: this.leader ? this.id : null,
      leaderAddress: this.leader ? this.address : (this.leaderHint ?? null),
      role,
      term: 1,
      commitIndex: this.index,
      appliedIndex: this.index,
      ready: true,
      members: [
        { id: this.id, address: this.address, role, term: 1, commitIndex: this.index, appliedIndex: this.index },
      ],
    };
  }

  subscribe(filter: { queue?: string }, onEvent: (e: TaskEvent) => void): () => void {
    const s = { ...filter, fn: onEvent };
    this.subscribers.add(s);
    return () => this.subscribers.delete(s);
  }

  onStepDown(cb: () => void): () => void {
    this.stepDownCbs.add(cb);
    return () => this.stepDownCbs.delete(cb);
  }

  stepDown(hint?: string): void {
    this.leader = false;
    this.leaderHint = hint;
    for (const cb of [...this.stepDownCbs]) cb();
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }
}

/**
 * For a test file: a client server over a MachineExecutor on loopback, and a client of it, opened
 * before the file's tests and closed after them (read them inside tests, once beforeAll has run).
 */
export function machineServerAndClient(): { server: () => ClientServer; client: () => Client } {
  let server: ClientServer | undefined;
  let client: Client | undefined;
  beforeAll(async () => {
    server = await ClientServer.start({ address: '127.0.0.1:0', executor: new MachineExecutor() });
    client = new Client({ servers: [server.address] });
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
  });
  const need = <T>(x: T | undefined): T => {
    if (x === undefined) throw new Error('machineServerAndClient: read before beforeAll ran');
    return x;
  };
  return { server: () => need(server), client: () => need(client) };
}
