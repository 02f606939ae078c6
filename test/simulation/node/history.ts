// The node simulation's client history in src/checker's format, judged by the checker at the end of
// every seed (architecture issue §4: one queue oracle for the simulation and the jepsen-like suite).
// Time is the simulated (true) time, in ms: the one clock every client shares in the simulation.
//
// What is recorded, and where:
// - enqueues at the SDK's API (a producer's enqueueMany; one process per item, SDK errors classified
//   by the error table as in test/jepsen-like/lib/workload.ts);
// - the workers' Lease / Ack / Nack / Release / Extend on the wire, since the Worker SDK makes those
//   calls itself: one logical call per (client, session, seq), invoked at its first send and
//   completed by the first reply the SDK receives (or a LEASE_LOST refusal); a call never answered
//   stays open, which the checker reads as indeterminate. Each grant of a batch is its own pair, with
//   the belief bounds the simulation computes from docs/design.md §2's formula (in true time);
// - after the drain, one read per node of every task, taken while all nodes have applied the same
//   index, and every node's (index, digest) pairs.
import {
  checkAll,
  HistoryRecorder,
  type DigestPoint,
  type FinalTask,
  type LeaseGrant,
  type PendingOp,
  type Verdict,
} from '../../../src/checker/index.js';
import { RaftqError } from '../../../src/client/errors.js';
import type { EnqueueResult } from '../../../src/client/queue.js';
import type { Message, Method } from '../../../src/client/transport.js';
import type { ErrorDetail } from '../../../src/protocol/errors.js';
import type { ListPage, QueueStats, TaskView } from '../../../src/protocol/commands.js';
import type { QueueStateMachine } from '../../../src/statemachine/index.js';
import type { Scheduler } from './scheduler.js';

const decoder = new TextDecoder();
const STATES = ['waiting', 'delayed', 'leased', 'completed', 'dead', 'cancelled', 'expired'] as const;
const ATTEMPT_METHODS: ReadonlySet<Method> = new Set(['Lease', 'Ack', 'Nack', 'Release', 'Extend']);

export interface EnqueueItem {
  payload: Uint8Array;
  idempotencyKey?: string;
}

interface OpenCall {
  method: Method;
  /** The lease call's invoke (Lease), or one invoke per item (Ack), or the single attempt op. */
  ops: PendingOp<'lease' | 'ack' | 'nack' | 'release' | 'extend'>[];
  invokeTime: number;
}

export interface NodeView {
  id: string;
  sm: QueueStateMachine | null;
}

export class SimHistory {
  readonly rec: HistoryRecorder;
  private readonly open = new Map<string, OpenCall>();
  /** Belief ends the simulation computed for grants / extends, by call and attempt. */
  private readonly beliefs = new Map<string, number>();
  private readonly digests = new Map<string, Map<number, string>>();
  private reads = 0;
  private readonly leaders = new Set<string>();
  /** The checker's verdict, once check() ran. */
  verdict: Verdict | null = null;

  get finalReadCount(): number {
    return this.reads;
  }

  constructor(
    private readonly now: () => number,
    /** A leased task's value when the answer carries no payload (a Lease answered from the session cache). */
    private readonly valueOf: (taskId: string) => string | null,
    private readonly queue: string,
  ) {
    this.rec = new HistoryRecorder({ now });
  }

  /** A producer's enqueueMany, one history process per item. True if acknowledged. */
  async enqueue(producer: string, items: EnqueueItem[], run: () => Promise<EnqueueResult[]>): Promise<boolean> {
    const ops = items.map((item) => {
      const value = decoder.decode(item.payload);
      const base = {
        producer,
        seq: Number(value.slice(value.lastIndexOf('-') + 1)),
        value,
        queue: this.queue,
        ...(item.idempotencyKey !== undefined ? { idempotencyKey: item.idempotencyKey } : {}),
      };
      return { base, op: this.rec.invoke(`${producer}/${value}`, 'enqueue', base) };
    });
    try {
      const r = await run();
      ops.forEach(({ base, op }, i) => op.ok({ ...base, taskId: r[i]?.id, deduplicated: r[i]?.deduplicated }));
      return true;
    } catch (e) {
      // `fail` only where the error table says certainly not applied (the SDK's classification).
      const certain = e instanceof RaftqError && e.outcome !== 'unknown';
      const code = e instanceof RaftqError ? e.code : String(e);
      for (const { base, op } of ops) op[certain ? 'fail' : 'info'](code, base);
      return false;
    }
  }

  /** Every request a client sends (hook of the client network): the first send of a call invokes it. */
  sent(client: string, method: Method, req: Message): void {
    const key = callKey(client, method, req);
    if (key === null || this.open.has(key)) return;
    const rec = this.rec;
    const ops: OpenCall['ops'] = [];
    if (method === 'Lease') ops.push(rec.invoke(key, 'lease', { worker: String(req['workerId']), queue: this.queue }));
    else if (method === 'Ack') {
      ((req['items'] ?? []) as { id: string; token: string }[]).forEach((it, i) =>
        ops.push(rec.invoke(`${key}#${i}`, 'ack', { taskId: it.id, token: it.token })),
      );
    } else {
      const f = method === 'Nack' ? 'nack' : method === 'Release' ? 'release' : 'extend';
      const value = { taskId: String(req['id']), token: String(req['token']) };
      ops.push(rec.invoke(key, f, f === 'nack' && req['dead'] === true ? { ...value, dead: true } : value));
    }
    this.open.set(key, { method, ops, invokeTime: this.now() });
  }

  /** The simulation's belief end (true time) for attempt (id, token) as of this Lease / Extend reply. */
  belief(client: string, method: Method, req: Message, id: string, token: string, end: number): void {
    const key = callKey(client, method, req);
    if (key !== null) this.beliefs.set(`${key}|${id}|${token}`, end);
  }

  /** A reply reached a client (after the simulation's own bookkeeping, so beliefs are set). */
  replied(client: string, method: Method, req: Message, reply: Message): void {
    const key = callKey(client, method, req);
    const call = key === null ? undefined : this.open.get(key);
    if (key === null || call === undefined) return;
    this.open.delete(key);
    if (method === 'Lease') this.granted(key, call, reply);
    else if (method === 'Ack') {
      const results = (reply['results'] ?? []) as { ok?: boolean; error?: { code?: string } }[];
      const items = (req['items'] ?? []) as { id: string; token: string }[];
      call.ops.forEach((op, i) => {
        const r = results[i];
        if (r?.ok === true) op.ok({ taskId: items[i]?.id, token: items[i]?.token });
        else if (r?.error?.code === 'LEASE_LOST') op.fail('LEASE_LOST');
        else op.info(r?.error?.code ?? 'NO_RESULT');
      });
    } else {
      const op = call.ops[0];
      if (op === undefined) return;
      const end = this.beliefs.get(`${key}|${String(req['id'])}|${String(req['token'])}`);
      const value = { taskId: String(req['id']), token: String(req['token']) };
      op.ok(method === 'Extend' && end !== undefined ? { ...value, beliefEnd: end } : value);
    }
  }

  /** A server's error answer reached a client: only a LEASE_LOST refusal is final for the call. */
  failed(client: string, method: Method, req: Message, detail: ErrorDetail): void {
    const key = callKey(client, method, req);
    const call = key === null ? undefined : this.open.get(key);
    if (key === null || call === undefined || detail.code !== 'LEASE_LOST' || method === 'Lease') return;
    this.open.delete(key);
    for (const op of call.ops) op.fail('LEASE_LOST');
  }

  private granted(key: string, call: OpenCall, reply: Message): void {
    const first = call.ops[0];
    const tasks = (reply['tasks'] ?? []) as { id: string; token: string; payload?: Uint8Array; group?: string }[];
    if (first === undefined) return;
    if (tasks.length === 0) return first.ok(null);
    tasks.forEach((t, i) => {
      const beliefEnd = this.beliefs.get(`${key}|${t.id}|${t.token}`);
      const payload = t.payload !== undefined && t.payload.length > 0 ? decoder.decode(t.payload) : null;
      const value = payload ?? this.valueOf(t.id);
      // No belief: the worker that asked is gone (closed or restarted); it holds nothing.
      if (beliefEnd === undefined || value === null) return;
      const grant: LeaseGrant = {
        taskId: t.id,
        token: t.token,
        value,
        beliefStart: this.now(),
        beliefEnd,
        ...(t.group !== undefined && t.group !== '' ? { group: t.group } : {}),
      };
      if (i === 0) return first.ok(grant);
      // Each grant of a batch is its own invoke/ok pair, invoked when the batch's call was.
      const process = `${key}#${i}`;
      this.rec.append({ process, type: 'invoke', f: 'lease', value: { queue: this.queue }, time: call.invokeTime });
      this.rec.append({ process, type: 'ok', f: 'lease', value: grant, time: this.now() });
    });
  }

  /** A nemesis event (crash, partition, client blackout, wall-clock jump) for the verdict and timeline. */
  fault(kind: string, action: 'start' | 'stop', target?: string): void {
    this.rec.fault(kind, action, target);
  }

  /** A node seen as leader of `term`: recorded once per (node, term). */
  leader(node: string, term: number): void {
    if (this.leaders.has(`${node}/${term}`)) return;
    this.leaders.add(`${node}/${term}`);
    this.rec.leader(node, term);
  }

  /** A node applied `index` with state digest `digest` (the last one wins after a restart). */
  applied(node: string, index: number, digest: string): void {
    let m = this.digests.get(node);
    if (m === undefined) this.digests.set(node, (m = new Map()));
    m.set(index, digest);
  }

  /**
   * After the drain: runs the cluster until every node has applied the same index (at most
   * `boundMs`), then reads every task through each node (Q13). False if they never converged.
   */
  async readAtOneIndex(sched: Scheduler, nodes: readonly NodeView[], afterEach: () => void, boundMs = 2000) {
    const converged = (): boolean => {
      const first = nodes[0]?.sm?.appliedIndex();
      return first !== undefined && nodes.every((n) => n.sm !== null && n.sm.appliedIndex() === first);
    };
    await sched.runUntil(sched.now + boundMs, () => {
      afterEach();
      return converged();
    });
    if (!converged()) return false;
    for (const n of nodes) {
      if (n.sm === null) continue;
      const op = this.rec.invoke(`reader-${n.id}`, 'read', null, n.id);
      op.ok({ tasks: readAll(n.sm) });
      this.reads++;
    }
    return true;
  }

  /** Closes the history and runs every check of the checker; returns one violation per failed check. */
  check(nodes: readonly string[]): { verdict: Verdict; violations: string[] } {
    const digests: Record<string, DigestPoint[]> = {};
    for (const [node, m] of this.digests) {
      digests[node] = [...m].map(([index, digest]) => ({ index, digest }));
    }
    this.rec.finish({ nodes: [...nodes], digests });
    const verdict = checkAll(this.rec.ops(), this.rec.final(), {});
    this.verdict = verdict;
    // Without final reads (no drain) a task may be neither leased nor read yet: `lost` says nothing.
    const skip = this.reads === 0 ? new Set(['lost']) : new Set<string>();
    const violations: string[] = [];
    for (const [name, r] of Object.entries(verdict.checks)) {
      if (r.valid || skip.has(name)) continue;
      violations.push(`history ${name}: ${r.count} violation(s), e.g. ${JSON.stringify(r.examples.slice(0, 2))}`);
    }
    if (verdict.stats.malformed > 0)
      violations.push(`history: ${verdict.stats.malformed} malformed ops (a recording bug)`);
    return { verdict, violations };
  }
}

/** `${client}/${session}/${seq}` for the attempt methods (session commands), else null. */
function callKey(client: string, method: Method, req: Message): string | null {
  if (!ATTEMPT_METHODS.has(method)) return null;
  const h = req['header'] as { session?: string; seq?: number } | undefined;
  return h?.session ? `${client}/${h.session}/${String(h.seq)}` : null;
}

export function readAll(sm: QueueStateMachine): FinalTask[] {
  const out: FinalTask[] = [];
  const qs = sm.read({ type: 'queues' }).answer;
  const names = qs.ok ? (qs.value as { queues: QueueStats[] }).queues.map((q) => q.queue) : [];
  for (const queue of names) {
    for (const state of STATES) {
      let cursor: string | undefined;
      for (let page = 0; page < 10_000; page++) {
        const a = sm.read({ type: 'list', queue, state, limit: 1000, ...(cursor ? { cursor } : {}) }).answer;
        if (!a.ok) break;
        const p = a.value as ListPage;
        for (const t of p.items) out.push(finalTask(t));
        if (p.nextCursor === null) break;
        cursor = p.nextCursor;
      }
    }
  }
  return out;
}

function finalTask(t: TaskView): FinalTask {
  const derivedFrom = t.deadLetterOf?.id ?? t.redrivenFrom;
  return {
    taskId: t.id,
    value: decoder.decode(t.payload),
    state: t.state,
    ...(t.group !== undefined ? { group: t.group } : {}),
    ...(derivedFrom !== undefined ? { derivedFrom } : {}),
  };
}
