// A tiny, correct, single-log queue that produces valid histories for property tests of the checker.
// Each step is an operation with an invoke, an apply point on the log (apply times and log indexes
// increase in step order) and a completion; processes are sequential, different processes overlap.
// Semantics follow docs/design.md: fencing token = log index of the grant, leases expire on log time,
// groups are strict FIFO, idempotency keys deduplicate, a repeated ending call gets its original answer.

import type { FinalObservations, FinalTask, Op, OpType, TaskState } from '../../../src/checker/index.js';

export interface Step {
  kind: 'enqueue' | 'lease' | 'finish' | 'extend' | 'crash' | 'wait' | 'fault';
  actor: number;
  /** Drives the choices inside a step (outcome, mode, durations). */
  r: number;
  gap: number;
}

export interface SimResult {
  history: Op[];
  final: FinalObservations;
}

const leaseMs = 40;
const marginMs = 10;
const producers = 3;
const workers = 3;
const nodes = ['n1', 'n2', 'n3'];
const faultKinds = ['kill', 'partition', 'pause'];

interface Task {
  id: string;
  value: string;
  group: string | undefined;
  state: TaskState;
  token: bigint | undefined;
  deadline: number;
  /** How each attempt ended: token → f, so a repeat gets the original answer. */
  ended: Map<bigint, string>;
}

interface Holding {
  taskId: string;
  token: bigint;
  beliefEnd: number;
  /** A stalled worker (a long GC pause, say) does nothing before this time, then acks late. */
  stalledUntil: number;
}

export class QueueSim {
  readonly ops: Op[] = [];
  #now = 0;
  #lastApply = 0;
  #index = 100n;
  #taskSeq = 0;
  #term = 1;
  readonly #tasks = new Map<string, Task>();
  readonly #order: Task[] = [];
  readonly #keys = new Map<string, string>();
  readonly #freeAt = new Map<string, number>();
  readonly #seq = new Array<number>(producers).fill(0);
  readonly #retry = new Map<number, { seq: number; value: string; key: string; group?: string }>();
  readonly #holding = new Map<string, Holding>();
  readonly #lastEnd = new Map<string, { h: Holding; f: string; dead: boolean; value: object }>();
  readonly #faults = new Set<string>();
  readonly #generation = new Array<number>(workers).fill(0);

  run(steps: readonly Step[]): SimResult {
    this.#event('observer', 'leader', { node: 'n1', term: this.#term });
    for (const s of steps) this.#step(s);
    return this.#finish();
  }

  #step(s: Step): void {
    this.#now += s.gap;
    const slot = s.actor % workers;
    const w = `w${slot}-${this.#generation[slot] ?? 0}`;
    switch (s.kind) {
      case 'enqueue':
        return this.#enqueue(s.actor % producers, s.r);
      case 'lease':
        if (!this.#holding.has(w)) this.#lease(w, s.r);
        return;
      case 'finish':
        if (s.r % 3 === 0 && this.#lastEnd.has(w)) this.#repeatLastEnd(w, s.r);
        else if (this.#active(w)) this.#end(w, s.r);
        return;
      case 'extend':
        if (this.#active(w)) this.#extend(w, s.r);
        return;
      case 'crash':
        return this.#crash(w, slot, s.r);
      case 'wait':
        this.#now += (s.r % 3) * 20;
        return;
      case 'fault':
        return this.#fault(s.r);
    }
  }

  #active(w: string): boolean {
    const h = this.#holding.get(w);
    return h !== undefined && h.stalledUntil <= this.#now;
  }

  #crash(w: string, slot: number, r: number): void {
    const h = this.#holding.get(w);
    if (h === undefined) return;
    if (r % 2 === 0) {
      h.stalledUntil = this.#tasks.get(h.taskId)!.deadline + 1;
      return;
    }
    // The worker dies holding its lease; its process id is retired with it.
    this.#generation[slot] = (this.#generation[slot] ?? 0) + 1;
  }

  /** Times for one call: invoke, apply on the log, completion. */
  #times(process: string, r: number): { invoke: number; apply: number; complete: number } {
    const invoke = Math.max(this.#now, this.#freeAt.get(process) ?? 0);
    const apply = Math.max(invoke + 0.5 + (r % 4), this.#lastApply + 0.01);
    const complete = apply + 0.5 + ((r >> 2) % 4);
    this.#lastApply = apply;
    this.#freeAt.set(process, complete + 0.01);
    this.#index += 1n;
    this.#expire(apply);
    return { invoke, apply, complete };
  }

  #expire(apply: number): void {
    for (const t of this.#order) {
      if (t.state === 'leased' && t.deadline <= apply) t.state = 'waiting';
    }
  }

  #call(process: string, f: Op['f'], invoke: unknown, time: number): void {
    this.ops.push({ process, type: 'invoke', f, value: invoke, time } as Op);
  }

  #complete(process: string, f: Op['f'], type: OpType, value: unknown, time: number, error?: string): void {
    const e = error === undefined ? {} : { error };
    this.ops.push({ process, type, f, value, time, ...e } as Op);
  }

  #event(process: string, f: 'leader' | 'fault', value: unknown): void {
    this.ops.push({ process, type: 'info', f, value, time: this.#now } as Op);
  }

  #enqueue(p: number, r: number): void {
    const process = `p${p}`;
    let e = this.#retry.get(p);
    this.#retry.delete(p);
    if (e === undefined) {
      const seq = (this.#seq[p] = (this.#seq[p] ?? 0) + 1);
      const group = r % 3 === 0 ? `g${r % 2}` : undefined;
      e = { seq, value: `${process}-${seq}`, key: `k-${process}-${seq}`, ...(group === undefined ? {} : { group }) };
    }
    const useKey = e.seq % 2 === 0 || this.#keys.has(e.key) || r % 7 === 5;
    const invoke = {
      producer: process,
      seq: e.seq,
      value: e.value,
      ...(useKey ? { idempotencyKey: e.key } : {}),
      ...(e.group === undefined ? {} : { group: e.group }),
    };
    const outcome = r % 7; // 0-4 ok, 5 info (applied or not), 6 fail
    const t = this.#times(process, r);
    this.#call(process, 'enqueue', invoke, t.invoke);
    if (outcome === 6) return this.#complete(process, 'enqueue', 'fail', invoke, t.complete, 'NOT_LEADER');
    const applied = outcome !== 5 || r % 2 === 0;
    const taskId = applied ? this.#applyEnqueue(e, useKey) : undefined;
    if (outcome === 5) {
      if (useKey) this.#retry.set(p, e); // an unknown outcome is retried with the same key
      return this.#complete(process, 'enqueue', 'info', invoke, t.complete, 'DEADLINE_EXCEEDED');
    }
    this.#complete(process, 'enqueue', 'ok', { ...invoke, taskId }, t.complete);
  }

  #applyEnqueue(e: { value: string; key: string; group?: string }, useKey: boolean): string {
    const existing = useKey ? this.#keys.get(e.key) : undefined;
    if (existing !== undefined) return existing;
    this.#taskSeq += 1;
    const task: Task = {
      id: `t${this.#taskSeq}`,
      value: e.value,
      group: e.group,
      state: 'waiting',
      token: undefined,
      deadline: 0,
      ended: new Map(),
    };
    this.#tasks.set(task.id, task);
    this.#order.push(task);
    if (useKey) this.#keys.set(e.key, task.id);
    return task.id;
  }

  #eligible(): Task | undefined {
    const blocked = new Set<string>();
    for (const t of this.#order) {
      const terminal = t.state === 'completed' || t.state === 'dead';
      if (t.group !== undefined && !terminal) {
        if (blocked.has(t.group)) continue;
        blocked.add(t.group); // the first non-terminal task of a group blocks the rest
      }
      if (t.state === 'waiting') return t;
    }
    return undefined;
  }

  #lease(w: string, r: number): void {
    const t = this.#times(w, r);
    this.#call(w, 'lease', { worker: w }, t.invoke);
    const task = this.#eligible();
    if (task === undefined) return this.#complete(w, 'lease', 'ok', null, t.complete);
    task.state = 'leased';
    task.token = this.#index;
    task.deadline = t.apply + leaseMs;
    if (r % 9 === 8) return this.#complete(w, 'lease', 'info', null, t.complete, 'DEADLINE_EXCEEDED');
    const beliefEnd = t.invoke + leaseMs - marginMs;
    this.#holding.set(w, { taskId: task.id, token: task.token, beliefEnd, stalledUntil: 0 });
    const grant = {
      taskId: task.id,
      token: task.token.toString(),
      value: task.value,
      beliefStart: t.complete,
      beliefEnd,
      ...(task.group === undefined ? {} : { group: task.group }),
    };
    this.#complete(w, 'lease', 'ok', grant, t.complete);
  }

  /** ack / nack / release, sometimes repeated, sometimes with an unknown outcome. */
  #end(w: string, r: number): void {
    const h = this.#holding.get(w)!;
    const f = (['ack', 'ack', 'nack', 'release'] as const)[r % 4]!;
    const dead = f === 'nack' && r % 3 === 0;
    const value = { taskId: h.taskId, token: h.token.toString(), ...(dead ? { dead: true } : {}) };
    const repeats = r % 5 === 0 ? 2 : 1;
    for (let i = 0; i < repeats; i += 1) {
      const t = this.#times(w, r);
      this.#call(w, f, value, t.invoke);
      const ok = this.#applyEnd(h, f, dead, t.apply);
      if (r % 11 === 10) this.#complete(w, f, 'info', value, t.complete, 'UNAVAILABLE');
      else if (ok) this.#complete(w, f, 'ok', value, t.complete);
      else this.#complete(w, f, 'fail', value, t.complete, 'LEASE_LOST');
    }
    this.#holding.delete(w);
    this.#lastEnd.set(w, { h, f, dead, value });
  }

  /** A late duplicate of the worker's last ending call (another session's retry, say). */
  #repeatLastEnd(w: string, r: number): void {
    const last = this.#lastEnd.get(w);
    if (last === undefined) return;
    const f = last.f as 'ack' | 'nack' | 'release';
    const t = this.#times(w, r);
    this.#call(w, f, last.value, t.invoke);
    const ok = this.#applyEnd(last.h, f, last.dead, t.apply);
    this.#complete(w, f, ok ? 'ok' : 'fail', last.value, t.complete, ok ? undefined : 'LEASE_LOST');
  }

  #applyEnd(h: Holding, f: string, dead: boolean, apply: number): boolean {
    const task = this.#tasks.get(h.taskId)!;
    const previous = task.ended.get(h.token);
    if (previous !== undefined) return previous === f;
    if (task.state !== 'leased' || task.token !== h.token || task.deadline <= apply) return false;
    task.ended.set(h.token, f);
    task.state = f === 'ack' ? 'completed' : dead ? 'dead' : 'waiting';
    return true;
  }

  #extend(w: string, r: number): void {
    const h = this.#holding.get(w)!;
    const t = this.#times(w, r);
    const value = { taskId: h.taskId, token: h.token.toString() };
    this.#call(w, 'extend', value, t.invoke);
    const task = this.#tasks.get(h.taskId)!;
    if (task.state !== 'leased' || task.token !== h.token || task.deadline <= t.apply)
      return this.#complete(w, 'extend', 'fail', value, t.complete, 'LEASE_LOST');
    task.deadline = t.apply + leaseMs;
    h.beliefEnd = Math.max(h.beliefEnd, t.invoke + leaseMs - marginMs);
    this.#complete(w, 'extend', 'ok', { ...value, beliefEnd: h.beliefEnd }, t.complete);
  }

  #fault(r: number): void {
    const kind = faultKinds[r % faultKinds.length]!;
    if (this.#faults.delete(kind)) {
      this.#event('nemesis', 'fault', { kind, action: 'stop' });
      this.#term += 1;
      this.#event('observer', 'leader', { node: nodes[this.#term % nodes.length], term: this.#term });
    } else {
      this.#faults.add(kind);
      this.#event('nemesis', 'fault', { kind, action: 'start' });
    }
  }

  /** Heal, let every lease expire, drain with one worker, read through every node. */
  #finish(): SimResult {
    for (const kind of [...this.#faults]) this.#event('nemesis', 'fault', { kind, action: 'stop' });
    this.#faults.clear();
    const healTime = this.#now;
    this.#now = Math.max(this.#now, this.#lastApply) + leaseMs + 1;
    for (let i = 0; i <= this.#order.length * 3; i += 1) {
      this.#lease('drain', 1);
      if (!this.#holding.has('drain')) break;
      this.#end('drain', 1); // r = 1: a single ack
    }
    const tasks: FinalTask[] = this.#order.map((t) => ({
      taskId: t.id,
      value: t.value,
      state: t.state,
      ...(t.group === undefined ? {} : { group: t.group }),
    }));
    const readAt = Math.max(this.#now, this.#lastApply, ...this.#freeAt.values()) + 1;
    for (const node of nodes) {
      const at = readAt;
      this.ops.push({ process: `read-${node}`, type: 'invoke', f: 'read', value: null, time: at, node });
      this.ops.push({
        process: `read-${node}`,
        type: 'ok',
        f: 'read',
        value: { tasks: tasks.map((t) => ({ ...t })) },
        time: at + 1,
        node,
      });
    }
    const last = Number(this.#index);
    const digests = Object.fromEntries(
      nodes.map((n, i) => {
        const upTo = i === 2 ? Math.floor((100 + last) / 2) : last; // n3 lags: fewer points
        const points = [];
        for (let index = 100; index <= upTo; index += 5) points.push({ index, digest: `d${index}` });
        return [n, points];
      }),
    );
    const recovery = nodes.map((node, i) => ({ node, time: healTime + 10 + i, ok: true }));
    const history = this.ops
      .map((op, i) => ({ op, i }))
      .sort((a, b) => a.op.time - b.op.time || a.i - b.i)
      .map((x) => x.op);
    return { history, final: { nodes, digests, healTime, recovery } };
  }
}

export function simulate(steps: readonly Step[]): SimResult {
  return new QueueSim().run(steps);
}
