// The workload: producers and workers over the real SDK, each a sequential history process.
// Producers enqueue unique values (some with idempotency keys, some in FIFO groups) and retry
// indeterminate outcomes with the same key. Workers lease one task at a time with the raw lease
// command, so they can record the fencing token and the believed-held interval of docs/design.md §2,
// then ack, nack, release, extend, crash (abandon the lease) or ack late on purpose.
import { Client, RaftqError, type Queue } from '../../../src/client/index.js';
import { CLOCK_RATE_BOUND, MARGIN_FLOOR_MS } from '../../../src/client/worker.js';
import { asArray, asNumber, asObject, leasedTaskFromWire } from '../../../src/client/wire.js';
import type { LeasedTask } from '../../../src/protocol/commands.js';
import type {
  FinalTask,
  HistoryRecorder,
  LeaseGrant,
  PendingOp,
  RecoveryProbe,
  TaskState,
} from '../../../src/checker/index.js';
import type { Rng } from './rng.js';

export interface WorkloadOptions {
  servers: string[];
  recorder: HistoryRecorder;
  rng: Rng;
  queue?: string;
  producers?: number;
  workers?: number;
  /** Lease length asked for; the belief margin follows docs/design.md §2. */
  leaseMs?: number;
  /** Long-poll hold of an empty lease request. */
  holdMs?: number;
  /** Deadline of one SDK call (retries included); beyond it the outcome is `info`. */
  callTimeoutMs?: number;
  /** Pause between a producer's enqueues (bounds the load on a shared 2-core machine). */
  produceEveryMs?: number;
  /** Producers wait while this many acknowledged values were not leased yet (a bounded backlog). */
  backlogMax?: number;
  log?: (line: string) => void;
}

const states: TaskState[] = ['waiting', 'delayed', 'leased', 'completed', 'dead', 'cancelled', 'expired'];

/** The outcome of a failed call: `fail` only when the error table says it certainly did not apply. */
export function classify(e: unknown): { type: 'fail' | 'info'; error: string } {
  if (e instanceof RaftqError) return { type: e.outcome === 'unknown' ? 'info' : 'fail', error: e.code };
  return { type: 'info', error: e instanceof Error ? e.message : String(e) };
}

export function beliefMargin(leaseMs: number, holdMs: number): number {
  return Math.ceil(MARGIN_FLOOR_MS + 2 * CLOCK_RATE_BOUND * (leaseMs + holdMs));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true || ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export class Workload {
  readonly queue: string;
  readonly leaseMs: number;
  readonly holdMs: number;
  readonly margin: number;
  /** Values acknowledged to a producer and not yet seen in a grant: the drain's to-do list. */
  readonly unseen = new Set<string>();
  private readonly seen = new Set<string>();
  private readonly clients: Client[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly stopProducing = new AbortController();
  private readonly stopWorking = new AbortController();
  private draining = false;
  private readonly o: Required<Omit<WorkloadOptions, 'log'>> & Pick<WorkloadOptions, 'log'>;

  constructor(options: WorkloadOptions) {
    this.o = {
      queue: 'jepsen',
      producers: 2,
      workers: 5,
      leaseMs: 4_000,
      holdMs: 500,
      callTimeoutMs: 10_000,
      produceEveryMs: 20,
      backlogMax: 200,
      ...options,
    };
    this.queue = this.o.queue;
    this.leaseMs = this.o.leaseMs;
    this.holdMs = this.o.holdMs;
    this.margin = beliefMargin(this.leaseMs, this.holdMs);
  }

  private client(servers = this.o.servers): Client {
    const c = new Client({ servers, timeoutMs: this.o.callTimeoutMs, retryMsMax: 300 });
    this.clients.push(c);
    return c;
  }

  /** Creates the queue with limits high enough that no task is dead-lettered by the workload itself. */
  async setup(deadlineMs: number): Promise<void> {
    const c = this.client();
    const end = performance.now() + deadlineMs;
    for (;;) {
      try {
        await c.queue(this.queue).create({ maxAttempts: 1_000_000, maxDeliveries: 1_000_000 });
        return;
      } catch (e) {
        if (e instanceof RaftqError && e.code === 'ALREADY_EXISTS') return;
        if (performance.now() > end) throw new Error(`workload setup: ${String(e)}`);
        await sleep(200);
      }
    }
  }

  start(): void {
    for (let i = 0; i < this.o.producers; i += 1) this.loops.push(this.produce(`p${i}`, this.o.rng.fork()));
    for (let i = 0; i < this.o.workers; i += 1) this.loops.push(this.work(`w${i}`, this.o.rng.fork()));
  }

  /** Stops producing; workers go on, acking everything promptly, until every acknowledged value was leased. */
  async drain(deadlineMs: number): Promise<boolean> {
    this.stopProducing.abort();
    this.draining = true;
    const end = performance.now() + deadlineMs;
    while (this.unseen.size > 0 && performance.now() < end) await sleep(100);
    return this.unseen.size === 0;
  }

  async stop(): Promise<void> {
    this.stopProducing.abort();
    this.stopWorking.abort();
    await Promise.all(this.loops);
    await Promise.all(this.clients.map((c) => c.close({ timeoutMs: 2_000 }).catch(() => {})));
  }

  private async produce(name: string, rng: Rng): Promise<void> {
    const q = this.client().queue(this.queue);
    const stop = this.stopProducing.signal;
    for (let seq = 0; !stop.aborted;) {
      // One time in four, a burst of 2-4 concurrent enqueues: the SDK merges the plain ones into one
      // command (docs/decisions.md "Concurrent single enqueues travel as one command"). Each member
      // is a history process of its own (a process's operations are sequential).
      const burst = rng.next() < 0.25 ? 2 + rng.int(3) : 1;
      const members = Array.from({ length: burst }, (_, j) =>
        this.produceOne(q, burst === 1 ? name : `${name}.${j}`, name, seq + j, rng),
      );
      seq += burst;
      await Promise.all(members);
      await sleep(this.o.produceEveryMs * (0.5 + rng.next()), stop);
      while (this.unseen.size > this.o.backlogMax && !stop.aborted) await sleep(50, stop);
    }
  }

  /** One value: enqueued by `process`, retried with its key while the outcome is unknown. */
  private async produceOne(q: Queue, process: string, producer: string, seq: number, rng: Rng): Promise<void> {
    const rec = this.o.recorder;
    const stop = this.stopProducing.signal;
    const value = `${producer}-${seq}`;
    const keyed = rng.next() < 0.5;
    const group = rng.next() < 0.2 ? `g-${producer}-${rng.int(3)}` : undefined;
    // Two calls in five get a short deadline, so that faults leave indeterminate (info)
    // outcomes to retry even in a short run, not only when a 10 s call outlasts a fault.
    const call = rng.next() < 0.4 ? { timeoutMs: 700 } : {};
    const base = {
      producer,
      seq,
      value,
      queue: this.queue,
      ...(keyed ? { idempotencyKey: `k-${value}` } : {}),
      ...(group !== undefined ? { group } : {}),
    };
    // An indeterminate keyed enqueue is retried with the same key (docs/faults.md F12).
    for (let attempt = 0; attempt < 4 && !stop.aborted; attempt += 1) {
      const op = rec.invoke(process, 'enqueue', base);
      try {
        const r = await q.enqueue(
          { v: value },
          {
            headers: { v: value },
            ...(keyed ? { idempotencyKey: `k-${value}` } : {}),
            ...(group !== undefined ? { group } : {}),
          },
          call,
        );
        op.ok({ ...base, taskId: r.id, deduplicated: r.deduplicated });
        if (!this.seen.has(value)) this.unseen.add(value);
        break;
      } catch (e) {
        const out = classify(e);
        op[out.type](out.error, base);
        if (out.type === 'fail' || !keyed) break;
      }
    }
  }

  private async work(name: string, rng: Rng): Promise<void> {
    const c = this.client();
    const stop = this.stopWorking.signal;
    while (!stop.aborted) {
      const grant = await this.lease(c, name);
      if (grant === null) {
        await sleep(20, stop);
        continue;
      }
      if (stop.aborted) break;
      await this.handle(c, name, grant, rng);
    }
  }

  /** One lease call; records the grant with its belief interval. Null: nothing leased (or unknown). */
  private async lease(c: Client, name: string): Promise<LeaseGrant | null> {
    const rec = this.o.recorder;
    const op = rec.invoke(name, 'lease', { worker: name, queue: this.queue });
    let leased: LeasedTask | undefined;
    let grantedBy: number;
    try {
      const r = await c.command(
        { type: 'lease', queue: this.queue, workerId: name, max: 1, leaseMs: this.leaseMs },
        { holdMs: this.holdMs, extra: { maxHoldMs: this.holdMs }, signal: this.stopWorking.signal },
      );
      leased = asArray(r.reply['tasks']).map(leasedTaskFromWire)[0];
      // A resent lease may carry an earlier attempt's grant: its hold then does not count (design.md §2.4).
      grantedBy = r.firstSentAt + (r.resent ? 0 : asNumber(r.reply['heldMs']));
    } catch (e) {
      const out = classify(e);
      op[out.type](out.error);
      return null;
    }
    if (leased === undefined) {
      op.ok(null);
      return null;
    }
    const leaseMs = leased.leaseMs > 0 ? Math.min(leased.leaseMs, this.leaseMs) : this.leaseMs;
    const value = leased.headers['v'] ?? (await this.valueOf(c, leased.id));
    const grant: LeaseGrant = {
      taskId: leased.id,
      token: leased.token,
      value,
      beliefStart: rec.now(),
      beliefEnd: grantedBy + leaseMs - this.margin,
      ...(leased.group !== undefined ? { group: leased.group } : {}),
    };
    op.ok(grant);
    this.seen.add(value);
    this.unseen.delete(value);
    return grant;
  }

  /** A cached session answer may omit the task body: read its value by id. */
  private async valueOf(c: Client, id: string): Promise<string> {
    try {
      const t = await c.queue(this.queue).get(id);
      return t.headers['v'] ?? `unknown-${id}`;
    } catch {
      return `unknown-${id}`;
    }
  }

  private async handle(c: Client, name: string, g: LeaseGrant, rng: Rng): Promise<void> {
    const left = (): number => g.beliefEnd - this.o.recorder.now();
    const r = this.draining ? 1 : rng.next();
    if (r < 0.05) return; // crashed mid-task: the lease must expire (L3)
    if (r < 0.1) {
      // Ack late on purpose, just after the lease deadline, often while a new holder has the
      // task: the token must fence it (Q5).
      await sleep(left() + this.margin + 50 + rng.int(600), this.stopWorking.signal);
      await this.attempt(c, name, 'ack', g);
      return;
    }
    if (!this.draining) await sleep(Math.min(rng.int(300), left() - 200));
    if (r < 0.16) await this.attempt(c, name, 'nack', g);
    else if (r < 0.22) await this.attempt(c, name, 'release', g);
    else {
      if (r < 0.27 && left() > 500) await this.attempt(c, name, 'extend', g);
      await this.attempt(c, name, 'ack', g);
    }
  }

  private async attempt(
    c: Client,
    name: string,
    f: 'ack' | 'nack' | 'release' | 'extend',
    g: LeaseGrant,
  ): Promise<void> {
    const value = { taskId: g.taskId, token: g.token };
    const op: PendingOp<typeof f> = this.o.recorder.invoke(name, f, value);
    try {
      if (f === 'ack') {
        const r = await c.command({ type: 'ack', items: [{ id: g.taskId, token: g.token }] }, { idempotent: true });
        const res = asObject(asArray(r.reply['results'])[0]);
        if (res['ok'] === true) op.ok(value);
        else op.fail(String(asObject(res['error'])['code'] ?? 'UNKNOWN'), value);
      } else if (f === 'extend') {
        const r = await c.command(
          { type: 'extend', id: g.taskId, token: g.token, leaseMs: this.leaseMs },
          { idempotent: true },
        );
        const beliefEnd = r.firstSentAt + this.leaseMs - this.margin;
        // The checker reads the extend's belief from the ok value; the grant keeps the later end.
        if (beliefEnd > g.beliefEnd) g.beliefEnd = beliefEnd;
        op.ok({ ...value, beliefEnd });
      } else if (f === 'nack') {
        await c.command({ type: 'nack', id: g.taskId, token: g.token, error: 'jepsen nack' }, { idempotent: true });
        op.ok(value);
      } else {
        await c.command({ type: 'release', id: g.taskId, token: g.token }, { idempotent: true });
        op.ok(value);
      }
    } catch (e) {
      const out = classify(e);
      op[out.type](out.error, value);
    }
  }

  /** Every task of the queue as `node` sees it (a stale read served by that node alone). */
  async readAll(node: string, address: string): Promise<FinalTask[] | string> {
    const c = new Client({ servers: [address], timeoutMs: 10_000 });
    try {
      const q = c.queue(this.queue);
      const out: FinalTask[] = [];
      for (const state of states) {
        let cursor: string | undefined;
        for (let page = 0; page < 10_000; page += 1) {
          const p = await q.list({ state, limit: 500, consistency: 'stale', ...(cursor ? { cursor } : {}) });
          for (const t of p.items) {
            out.push({
              taskId: t.id,
              value: t.headers['v'] ?? `unknown-${t.id}`,
              state: t.state,
              ...(t.group !== undefined ? { group: t.group } : {}),
            });
          }
          if (p.nextCursor === null) break;
          cursor = p.nextCursor;
        }
      }
      return out;
    } catch (e) {
      return `read through ${node} failed: ${String(e)}`;
    } finally {
      await c.close({ timeoutMs: 2_000 }).catch(() => {});
    }
  }

  /** L1: an enqueue → lease → ack round trip through `address` alone (forwarding allowed). */
  async probe(node: string, servers: string[], timeoutMs: number): Promise<RecoveryProbe> {
    const c = new Client({ servers, timeoutMs, retryMsMax: 300 });
    const rec = this.o.recorder;
    try {
      const queue = `probe-${node}`;
      await c.queue(queue).enqueue({ probe: node }, { idempotencyKey: `probe-${node}` });
      for (let i = 0; i < 20; i += 1) {
        const r = await c.command(
          { type: 'lease', queue, workerId: `probe-${node}`, max: 1, leaseMs: this.leaseMs },
          {
            holdMs: 1_000,
            extra: { maxHoldMs: 1_000 },
          },
        );
        const t = asArray(r.reply['tasks']).map(leasedTaskFromWire)[0];
        if (t === undefined) continue;
        const a = await c.command({ type: 'ack', items: [{ id: t.id, token: t.token }] }, { idempotent: true });
        const ok = asObject(asArray(a.reply['results'])[0])['ok'] === true;
        return { node, time: rec.now(), ok };
      }
      return { node, time: rec.now(), ok: false };
    } catch (e) {
      this.o.log?.(`probe through ${node} failed: ${String(e)}`);
      return { node, time: rec.now(), ok: false };
    } finally {
      await c.close({ timeoutMs: 2_000 }).catch(() => {});
    }
  }
}
