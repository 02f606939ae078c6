// The raftq Client: finds the leader and follows it, holds a session so that retried commands apply
// once (docs/design.md §1.5), puts a deadline on every call, and retries only what the error table of
// docs/design.md §5 allows. Time and network are injected (Clock, Transport) so this exact logic also
// runs in the deterministic simulation.
import { setMaxListeners } from 'node:events';
import type { Command, CommandOf, EnqueueItemAnswer, ReadQuery, TaskSpec } from '../protocol/commands.js';
import { ERROR_TABLE, type ErrorDetail } from '../protocol/errors.js';
import { DEFAULT_LIMITS, type Limits } from '../protocol/limits.js';
import { validateCommand } from '../protocol/validate.js';
import { READ_WIRE, type ReadMethod, type ReadReplyOf, type ReadWire } from '../protocol/wire-reads.js';
import {
  COMMAND_WIRE,
  decodeAnswer,
  encodeCommand,
  isClientCommandType,
  type AnswerOf,
  type ClientCommand,
  type ClientCommandType,
} from '../protocol/wire.js';
import { sleep, systemClock, type Clock, type Timer } from './clock.js';
import { msgpackCodec, type Codec } from './codec.js';
import { errorFromDetail, raftqError } from './errors.js';
import type { CallOptions, ClientOptions, CommandOptions, Lane } from './client-options.js';
import { isLimitRefusal, renewSeq } from './limits.js';
import { checkAddressMap, checkClientOptions, checkHandler, positive, serverList } from './options.js';
import { Queue } from './queue.js';
import { Schedules } from './schedules.js';
import { SharedLimits } from './shared-limits.js';
import { ServerBook } from './servers.js';
import { Session } from './session.js';
import type { Message, Method, StreamHandlers, Transport } from './transport.js';
import { Worker, type BatchHandler, type BatchWorkerOptions, type Handler, type WorkerOptions } from './worker.js';
import { cancelFlow, enqueueFlow, type FlowResult, type FlowTree } from './flows.js';
import { Topic } from './topics.js';
import { renamedOption } from './renamed-options.js';
import { LeaseSecrets } from './lease-secrets.js';
import {
  beforeFirstSend,
  defaultTransport,
  detailOf,
  finalError,
  isLinearizable,
  toRaftqError,
} from './client-helpers.js';
import { EnqueueBatcher, mergeable } from './enqueue-batcher.js';

export type { CallOptions, ClientOptions, CommandOptions, Lane } from './client-options.js';
export { toRaftqError } from './client-helpers.js';

interface LaneState {
  session: Session | null;
  opening: Promise<Session> | null;
  keepAlive: Timer | null;
}

export interface CommandResult<T extends ClientCommandType = ClientCommandType> {
  /** The reply as the transport gave it. */
  reply: Message;
  /** The reply decoded by the wire contract (src/protocol/wire.ts). */
  answer: AnswerOf<T>;
  /** Clock time of the first send of this command, across retries (docs/design.md §2 worker belief). */
  firstSentAt: number;
  /** Whether it was sent more than once: the answer may then be an earlier attempt's, from the session cache. */
  resent: boolean;
}

export type ReadConsistency = 'linearizable' | 'stale';

/** The client command type of a command (commands the client cannot send have none). */
type TypeOf<C extends Command> = C['type'] extends ClientCommandType ? C['type'] : never;

/** Consecutive leader hints followed without a success before the client backs off. */
const HINT_HOPS_MAX = 3;

interface RetryState {
  failures: number;
  /** Leader hints followed in a row. */
  hops: number;
  /** Addresses attempted, for the error when none answered. */
  tried: Set<string>;
  signal: AbortSignal | undefined; // the caller's: it ends the wait to learn who leads too
}

interface Decision {
  detail: ErrorDetail;
  action: 'retry' | 'new_session' | 'fail';
  waitMs: number;
}

export class Client {
  readonly codec: Codec;
  readonly compressAboveBytes: number;
  readonly limits: Limits;
  readonly clock: Clock;
  private readonly transport: Transport;
  private readonly ownsTransport: boolean;
  private readonly servers: ServerBook;
  private readonly timeoutMs: number;
  private readonly sessionTimeoutMs: number | undefined;
  private readonly pendingCallsMax: number;
  private readonly retryMsMin: number;
  private readonly retryMsMax: number;
  private pending = 0;
  /** Holder secrets of this client's leases, added to their endings (lease-secrets.ts). */
  private readonly leaseSecrets = new LeaseSecrets();
  private readonly lanes: Record<Lane, LaneState> = {
    main: { session: null, opening: null, keepAlive: null },
    poll: { session: null, opening: null, keepAlive: null },
  };
  private closed = false;
  /** A Status after a failover is on its way (one at a time). */
  private relearning = false;
  private readonly closeController = new AbortController();
  private readonly workers = new Set<Worker>();
  /** Single enqueues of one turn, merged per queue (enqueue-batcher.ts); null: `batchEnqueues: false`. */
  private readonly enqueues: EnqueueBatcher | null;

  constructor(options: ClientOptions) {
    checkClientOptions(options);
    // Every call in flight listens on the close signal: thousands at once are normal, not a leak.
    setMaxListeners(0, this.closeController.signal);
    const servers = serverList(options.servers);
    this.clock = options.clock ?? systemClock;
    this.timeoutMs = positive(options.timeoutMs, 30_000, 'timeoutMs');
    this.sessionTimeoutMs = options.sessionTimeoutMs;
    this.codec = options.codec ?? msgpackCodec;
    this.compressAboveBytes = options.compressAboveBytes ?? 64 * 1024;
    this.pendingCallsMax = positive(
      renamedOption(options, 'pendingCallsMax', 'maxPendingCalls'),
      10_000,
      'pendingCallsMax',
    );
    this.retryMsMin = positive(renamedOption(options, 'retryMsMin', 'retryMinMs'), 20, 'retryMsMin');
    this.retryMsMax = positive(renamedOption(options, 'retryMsMax', 'retryMaxMs'), 1_000, 'retryMsMax');
    this.servers = new ServerBook(servers, this.clock, {
      backoffMsMin: this.retryMsMin,
      backoffMsMax: this.retryMsMax,
      addressMap: checkAddressMap(options.addressMap),
      ...(options.network === undefined ? {} : { network: options.network }),
    });
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.ownsTransport = options.transport === undefined;
    this.transport = options.transport ?? defaultTransport(options.coalesce ?? true, this.clock, options);
    const send = (queue: string, tasks: TaskSpec[]) => this.sendEnqueue(queue, tasks, false, false);
    this.enqueues =
      options.batchEnqueues === false ? null : new EnqueueBatcher(send, this.clock, this.limits.enqueueBatchMax);
  }

  /** A typed handle on one queue; creating it sends nothing. */
  queue<T = unknown>(name: string): Queue<T> {
    return new Queue<T>(this, name);
  }

  /** Recurring tasks (docs/schedules.md); creating the handle sends nothing. */
  get schedules(): Schedules {
    return new Schedules(this);
  }

  /** Limits several queues share (docs/sdk.md "Shared limits"); creating the handle sends nothing. */
  get sharedLimits(): SharedLimits {
    return new SharedLimits(this);
  }

  /** Starts a worker on `queue`; see WorkerOptions. */
  worker<T = unknown, R = unknown>(queue: string, handler: BatchHandler<T, R>, o: BatchWorkerOptions): Worker<T, R>;
  worker<T = unknown, R = unknown>(queue: string, handler: Handler<T, R>, options?: WorkerOptions): Worker<T, R>;
  worker<T, R>(queue: string, handler: Handler<T, R> | BatchHandler<T, R>, options: WorkerOptions = {}): Worker<T, R> {
    this.assertOpen();
    checkHandler(handler);
    const w = new Worker<T, R>(this, queue, handler as Handler<T, R>, options);
    this.workers.add(w as Worker);
    w.once('closed', () => this.workers.delete(w as Worker));
    w.start();
    return w;
  }

  /** Workflows (docs/workflows.md): a tree of tasks across queues, each parent after its children, in one command. */
  flow(tree: FlowTree, call: CallOptions = {}): Promise<FlowResult> {
    return enqueueFlow(this, tree, call);
  }
  cancelFlow(rootId: string, call: CallOptions = {}): Promise<{ cancelled: number; cancelRequested: number }> {
    return cancelFlow(this, rootId, call);
  }
  /** A handle on a topic (fan-out, docs/workflows.md); creating it sends nothing. */
  topic<T = unknown>(name: string): Topic<T> {
    return new Topic<T>(this, name);
  }

  /** The election timeout (max, ms) the nodes report in status (1 s until one did): bounds workers' leases. */
  get electionTimeoutMsMax(): number {
    return this.servers.electionTimeoutMsMax;
  }
  /** The address the client currently sends commands to (null until a node named a leader). */
  get leaderAddress(): string | null {
    return this.servers.leader;
  }

  get sessionId(): string | null {
    return this.lanes.main.session?.id ?? null;
  }

  /** One node's Status (this node's view of the cluster), without retries. */
  async nodeStatus(address: string, options: CallOptions = {}): Promise<Message> {
    const status = await this.transport
      .call(address, 'Status', {}, options.timeoutMs ?? 5_000, options.signal)
      .catch((e) => {
        throw toRaftqError(e);
      });
    this.servers.learn(address, status);
    return status;
  }

  /** Validates and sends a command through the session, retrying as the error table allows. */
  async command<C extends Command>(cmd: C, options: CommandOptions = {}): Promise<CommandResult<TypeOf<C>>> {
    this.assertOpen();
    const checked = this.validated(this.leaseSecrets.attach(cmd));
    this.takePending();
    try {
      return await this.runChecked(checked, options);
    } finally {
      this.pending -= 1;
    }
  }

  /**
   * @internal One task of a single enqueue: it travels with the others of this turn to the same queue
   * as one command (enqueue-batcher.ts), or alone with `batchEnqueues: false`.
   */
  async enqueueOne(queue: string, task: TaskSpec, idempotent: boolean): Promise<EnqueueItemAnswer> {
    this.assertOpen();
    if (this.enqueues === null || !mergeable(task)) {
      const [one] = await this.sendEnqueue(queue, [task], idempotent, true);
      return one as EnqueueItemAnswer;
    }
    this.takePending(); // each task counts, not the command that carries it
    try {
      return await this.enqueues.add(queue, task);
    } finally {
      this.pending -= 1;
    }
  }

  /** One enqueue command; `counted`: it takes a pending slot of its own. */
  private async sendEnqueue(
    queue: string,
    tasks: TaskSpec[],
    idempotent: boolean,
    counted: boolean,
  ): Promise<EnqueueItemAnswer[]> {
    const cmd: CommandOf<'enqueue'> = { type: 'enqueue', queue, tasks };
    this.assertOpen();
    const run = counted ? this.command(cmd, { idempotent }) : this.runChecked(this.validated(cmd), { idempotent });
    const { items } = (await run).answer;
    if (items.length !== tasks.length)
      throw raftqError('INTERNAL', `enqueue answered ${items.length} of ${tasks.length} items`);
    return items;
  }

  /** The command as validated against the limits; a refusal is thrown as its typed error. */
  private validated<C extends Command>(cmd: C): C {
    const checked = validateCommand(cmd, this.limits);
    if (!checked.ok) throw errorFromDetail(checked.error);
    return checked.value as C;
  }

  private async runChecked<C extends Command>(cmd: C, options: CommandOptions): Promise<CommandResult<TypeOf<C>>> {
    const type = cmd.type;
    if (!isClientCommandType(type))
      throw raftqError('INVALID_ARGUMENT', `${type} is not a client command`, { field: 'type' });
    const encoded = encodeCommand(cmd as ClientCommand);
    const body = options.extra === undefined ? encoded : Object.assign({}, encoded, options.extra);
    const { reply, firstSentAt, resent } = await this.runCommand(COMMAND_WIRE[type].method, body, options);
    const answer = decodeAnswer(type as TypeOf<C>, reply);
    this.leaseSecrets.observe(cmd, answer);
    return { reply, answer, firstSentAt, resent };
  }

  /** A read (or any sessionless call), retried on leader changes and unknown outcomes. */
  async query(
    method: Method,
    request: Message,
    options: CallOptions & { consistency?: ReadConsistency } = {},
  ): Promise<Message> {
    this.assertOpen();
    const consistency = options.consistency === 'stale' ? 'STALE' : 'LINEARIZABLE';
    const body = method === 'WaitFor' || method === 'Status' ? request : { ...request, read: { consistency } };
    return this.withPending(() => this.runQuery(method, body, options));
  }

  /** A read of the wire contract (src/protocol/wire-reads.ts): the query encoded, the reply decoded. */
  async read<M extends ReadMethod>(
    method: M,
    query: ReadQuery,
    options: CallOptions & { consistency?: ReadConsistency } = {},
  ): Promise<ReadReplyOf<M>> {
    const wire = READ_WIRE[method] as unknown as ReadWire<M>;
    return wire.reply.decode(await this.query(method, wire.request.encode(query), options));
  }

  /** Opens a server stream on the current leader (or the first server). */
  openStream(request: Message, handlers: StreamHandlers): () => void {
    this.assertOpen();
    return this.transport.stream(this.target(), 'Events', request, handlers);
  }

  /** Stops workers (waiting for their handlers up to timeoutMs), closes the session and the channels. */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.workers].map((w) => w.close(options)));
    this.closed = true;
    await Promise.all(
      Object.values(this.lanes).map(async (lane) => {
        lane.keepAlive?.cancel();
        lane.keepAlive = null;
        const s = lane.session;
        lane.session = null;
        if (s === null || s.expired) return;
        const seq = s.allocate();
        const header = { session: s.id, seq, floor: s.floor(), timeoutMs: 1_000 };
        await this.transport.call(this.target(), 'CloseSession', { header }, 1_000).catch(() => undefined);
      }),
    );
    this.closeController.abort();
    if (this.ownsTransport) this.transport.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // ---- internals ----

  private assertOpen(): void {
    if (this.closed) throw raftqError('UNAVAILABLE', 'client is closed');
  }

  private async withPending<T>(fn: () => Promise<T>): Promise<T> {
    this.takePending();
    try {
      return await fn();
    } finally {
      this.pending -= 1;
    }
  }

  /** Counts one more call waiting (the caller takes it back when done), or refuses it over the cap. */
  private takePending(): void {
    if (this.pending >= this.pendingCallsMax) {
      throw raftqError('UNAVAILABLE', `${this.pending} calls already waiting (pendingCallsMax)`);
    }
    this.pending += 1;
  }

  private target(): string {
    return this.servers.target();
  }

  /** How long one attempt may take: the call's remaining time, cut to the attempt timeout. */
  private attemptMs(remaining: number, method: Method): number {
    // WaitFor holds until the task ends: only the call's own deadline bounds it.
    return method === 'WaitFor' ? remaining : Math.min(remaining, this.servers.attemptTimeoutMs());
  }

  /**
   * After a failed attempt at `address`: the error's detail and what to do, 'retry' (after
   * `waitMs`), 'new_session' or 'fail'. Updates the server book (leader, back-offs) on the way.
   */
  private async afterFailure(e: unknown, address: string, retry: RetryState): Promise<Decision> {
    const detail = detailOf(e);
    retry.failures += 1;
    await this.discover(detail, address, retry.signal);
    const policy = ERROR_TABLE[detail.code]?.retry ?? 'no';
    switch (policy) {
      case 'leader':
      case 'same_seq': {
        const hint = detail.leaderHint;
        if (hint !== undefined && hint !== '' && retry.hops < HINT_HOPS_MAX && this.servers.hint(hint, address)) {
          retry.hops += 1;
          return { detail, action: 'retry', waitMs: 0 };
        }
        retry.hops = 0;
        // A node that does not know the leader is tried again soon; one that failed backs off longer.
        this.servers.failed(address, detail.code !== 'NOT_LEADER');
        return { detail, action: 'retry', waitMs: Math.min(this.retryMsMax, this.servers.waitMs()) };
      }
      case 'after_delay':
        // Without retryAfterMs the limit is not a passing one (e.g. a payload too large): surface it.
        if (detail.retryAfterMs === undefined) return { detail, action: 'fail', waitMs: 0 };
        return { detail, action: 'retry', waitMs: detail.retryAfterMs };
      case 'new_session':
        return { detail, action: 'new_session', waitMs: 0 };
      default:
        return { detail, action: 'fail', waitMs: 0 };
    }
  }

  /**
   * A NOT_LEADER without a hint: ask that node's Status who leads (it may know the address even when
   * the answer path did not carry it). Sets the hint on `detail` when found. The caller's signal ends it.
   */
  private async discover(detail: ErrorDetail, address: string, signal: AbortSignal | undefined): Promise<void> {
    if (detail.code !== 'NOT_LEADER' || (detail.leaderHint ?? '') !== '' || this.closed || signal?.aborted) return;
    try {
      const status = await this.transport.call(address, 'Status', {}, 1_000, signal ?? this.closeController.signal);
      this.servers.learn(address, status);
      const hint = status['leaderAddress'];
      if (typeof hint === 'string' && hint !== '' && hint !== address) detail.leaderHint = hint;
    } catch {
      // The node is not answering: rotating is all we can do.
    }
  }

  /**
   * Learns the cluster's node ids and election timeout from a node that answered, then the ids of
   * the other listed addresses (so a hint by advertised address finds the listed entry). Once each.
   */
  private probe(address: string): void {
    if (this.servers.wantsStatus(address)) this.askStatus(address, true);
  }

  /**
   * A new leader, a failover, or a node that forwards our calls: its Status (a follower names the
   * leader, and the book moves there). Resolves once that Status is in (at once if none is asked).
   */
  private answered(address: string, asLeader: boolean, retried = false): Promise<void> {
    const fresh = this.servers.succeeded(address, asLeader);
    if (this.servers.wantsStatus(address)) return this.askStatus(address, true);
    if (this.relearning || !asLeader || !(fresh || retried || this.servers.recheck(address))) return Promise.resolve();
    this.relearning = true;
    return this.askStatus(address, false).finally(() => (this.relearning = false));
  }

  /** One node's Status into the book; `spread`: then probe the listed addresses not identified yet. */
  private async askStatus(address: string, spread: boolean): Promise<void> {
    if (this.closed) return;
    await this.transport.call(address, 'Status', {}, 1_000, this.closeController.signal).then(
      (status) => {
        this.servers.learn(address, status);
        if (spread) for (const other of this.servers.unidentified()) this.probe(other);
      },
      () => undefined, // an older node, a node down or a closing client: the defaults stay
    );
  }

  private async runCommand(
    method: Method,
    body: Message,
    options: CommandOptions,
  ): Promise<{ reply: Message; firstSentAt: number; resent: boolean }> {
    const deadline = this.clock.now() + (options.timeoutMs ?? this.timeoutMs);
    const lane = options.lane ?? 'main';
    // An open session and room in its window (the common case) need no await.
    let session = this.lanes[lane].session ?? (await this.ensureSession(lane, deadline, options.signal));
    const window = Math.max(1, this.limits.sessionOutstandingMax >> 1);
    let seq = session.tryAllocate(window) ?? (await session.allocateWithin(window));
    let firstSentAt: number | undefined;
    const retry: RetryState = { failures: 0, hops: 0, tried: new Set(), signal: options.signal };
    let last: ErrorDetail | null = null;
    /** The first attempt whose outcome is unknown: once one may have applied, the call's outcome is unknown. */
    let unknown: ErrorDetail | null = null;
    try {
      for (;;) {
        const now = this.clock.now();
        const remaining = deadline - now;
        if (remaining <= 0 || this.closed || options.signal?.aborted) break;
        const address = this.target();
        retry.tried.add(address);
        const attempt = this.attemptMs(remaining, method);
        const header = { session: session.id, seq, floor: session.floor(), timeoutMs: Math.ceil(attempt) };
        firstSentAt ??= now;
        session.lastSentAt = now;
        try {
          const signal = options.signal ?? this.closeController.signal;
          const reply = await this.transport.call(
            address,
            method,
            Object.assign({}, body, { header }), // not a spread: docs/decisions.md "No spread-then-extend…"
            attempt + (options.holdMs ?? 0),
            signal,
          );
          this.answered(address, true, retry.failures > 0);
          return { reply, firstSentAt, resent: retry.failures > 0 }; // every earlier attempt failed
        } catch (e) {
          const d = await this.afterFailure(e, address, retry);
          last = d.detail;
          if (ERROR_TABLE[last.code]?.outcome === 'unknown') unknown ??= last;
          if (isLimitRefusal(last)) {
            unknown = null; // the state machine's answer to this seq: definite (limits.ts)
            if (options.retryExhausted !== true) break;
            seq = renewSeq(session, seq);
          }
          if (d.action === 'fail') break;
          if (d.action === 'new_session') {
            this.dropSession(lane, session);
            if (options.idempotent !== true) break;
            session.complete(seq);
            session = await this.ensureSession(lane, deadline, options.signal);
            seq = session.allocate();
            continue;
          }
          if (d.waitMs > 0) await sleep(this.clock, Math.min(d.waitMs, deadline - this.clock.now()), options.signal);
        }
      }
    } finally {
      session.complete(seq);
    }
    const final = finalError(this.closed, last ?? beforeFirstSend(), retry.tried);
    // A later "not applied" answer (e.g. NOT_LEADER from a follower) says nothing about an earlier
    // attempt that may have committed: report the unknown outcome, never a false "not applied".
    if (unknown !== null && ERROR_TABLE[final.code]?.outcome !== 'unknown') {
      throw errorFromDetail({
        ...unknown,
        message: `${unknown.message} (outcome unknown; last attempt: ${final.code})`,
      });
    }
    throw errorFromDetail(final);
  }

  private async runQuery(method: Method, body: Message, options: CallOptions): Promise<Message> {
    const deadline = this.clock.now() + (options.timeoutMs ?? this.timeoutMs);
    const retry: RetryState = { failures: 0, hops: 0, tried: new Set(), signal: options.signal };
    let last: ErrorDetail = { code: 'DEADLINE_EXCEEDED', message: 'deadline passed before the first send' };
    for (;;) {
      const remaining = deadline - this.clock.now();
      if (remaining <= 0 || this.closed || options.signal?.aborted) break;
      const address = this.target();
      retry.tried.add(address);
      try {
        const signal = options.signal ?? this.closeController.signal;
        const reply = await this.transport.call(address, method, body, this.attemptMs(remaining, method), signal);
        // A stale read may come from a follower: only a linearizable answer or a command names a leader.
        const learnt = this.answered(address, method === 'OpenSession' || isLinearizable(body));
        // A session opened through a forwarding follower: its first commands go to the leader it names.
        if (method === 'OpenSession') await learnt;
        return reply;
      } catch (e) {
        const d = await this.afterFailure(e, address, retry);
        last = d.detail;
        if (d.action !== 'retry') break;
        if (d.waitMs > 0) await sleep(this.clock, Math.min(d.waitMs, deadline - this.clock.now()), options.signal);
      }
    }
    throw errorFromDetail(finalError(this.closed, last, retry.tried));
  }

  private dropSession(lane: Lane, s: Session): void {
    s.release();
    if (this.lanes[lane].session === s) this.lanes[lane].session = null;
  }

  private async ensureSession(lane: Lane, deadline: number, signal?: AbortSignal): Promise<Session> {
    const l = this.lanes[lane];
    if (l.session !== null) return l.session;
    l.opening ??= this.openSession(lane, deadline, signal).finally(() => (l.opening = null));
    return l.opening;
  }

  private async openSession(lane: Lane, deadline: number, signal?: AbortSignal): Promise<Session> {
    const cmd: CommandOf<'openSession'> = { type: 'openSession' };
    if (this.sessionTimeoutMs !== undefined) cmd.timeoutMs = this.sessionTimeoutMs;
    const wire = COMMAND_WIRE.openSession;
    // Sessionless, and the call's own timeout rides in callTimeoutMs (0: the server's default).
    const reply = await this.runQuery(
      wire.method as Method,
      { ...wire.request.encode(cmd), callTimeoutMs: 0 },
      {
        timeoutMs: Math.max(1, deadline - this.clock.now()),
        signal,
      },
    );
    const { session: id, timeoutMs: granted } = wire.reply.decode(reply);
    if (id === '') throw raftqError('INTERNAL', 'OpenSession answered without a session id');
    const timeoutMs = granted || this.sessionTimeoutMs || this.limits.sessionTimeoutMsDefault;
    const s = new Session(id, timeoutMs);
    s.lastSentAt = this.clock.now();
    this.lanes[lane].session = s;
    this.scheduleKeepAlive(lane, s);
    return s;
  }

  /** Keeps an idle session alive: a keepAlive when nothing was sent for a third of its timeout. */
  private scheduleKeepAlive(lane: Lane, s: Session): void {
    const every = Math.max(100, s.timeoutMs / 3);
    const l = this.lanes[lane];
    l.keepAlive?.cancel();
    l.keepAlive = this.clock.setTimer(
      every,
      () => {
        if (this.closed || l.session !== s) return;
        if (this.clock.now() - s.lastSentAt < every) return this.scheduleKeepAlive(lane, s);
        this.command({ type: 'keepAlive' }, { idempotent: false, timeoutMs: every, lane })
          .catch(() => undefined) // SESSION_EXPIRED drops the session; the next command opens one
          .finally(() => {
            if (l.session === s) this.scheduleKeepAlive(lane, s);
          });
      },
      true,
    );
  }
}
