// A small, obviously-correct reference model of the queue state machine: plain arrays and linear
// scans, no heaps, no incremental anything. It mirrors docs/design.md §1–§3 for the commands the
// model-based test generates (no delete, retention or per-entry caps).
import type { Answer, Command, QueueSettings, SessionCommand, TaskSpec } from '../../../src/protocol/index.js';
import { DEFAULT_LIMITS, DEFAULT_QUEUE_SETTINGS } from '../../../src/protocol/index.js';
import { backoffDelay } from '../../../src/statemachine/index.js';

export interface MAttempt {
  token: number;
  worker: string;
  end: string | null;
  error: string | null;
  answer: unknown;
}

export interface MTask {
  id: number;
  queue: string;
  payload: Uint8Array;
  priority: number;
  state: string;
  attempts: number;
  deliveries: number;
  leases: number;
  due: number;
  /** Delayed on the wall clock (absolute runAt). */
  wallDue: boolean;
  token: number;
  ttlAt?: number;
  group?: string;
  leaseMsCur?: number;
  checkpoint?: Uint8Array;
  lastError?: string;
  reason?: string;
  history: MAttempt[];
  deadLetterOf?: number;
  deadLetterQueue?: string;
  deadLetterId?: number;
  redrivenFrom?: number;
  redrivenTo?: number;
  /** Leased and its cancel requested: the attempt's end makes it cancelled. */
  cancelReq?: boolean;
}

interface MQueue {
  name: string;
  settings: QueueSettings;
  keys: Map<string, { id: number; expiresAt: number }>;
}

interface MSession {
  id: string;
  timeoutMs: number;
  lastMono: number;
  floor: number;
  answers: Map<number, Answer>;
}

const ok = (value: unknown): Answer => ({ ok: true, value });
const fail = (code: string, extra: Record<string, unknown> = {}): Answer =>
  ({ ok: false, error: { code, message: '', ...extra } }) as Answer;
const TERMINAL = ['completed', 'dead', 'cancelled', 'expired'];

export class Model {
  index = 0;
  mono = 0;
  wall = 0;
  nextId = 1;
  nextSession = 1;
  readonly tasks: MTask[] = [];
  readonly queues = new Map<string, MQueue>();
  readonly sessions = new Map<string, MSession>();

  task(id: number): MTask | undefined {
    return this.tasks.find((t) => t.id === id);
  }

  entry(index: number, mono: number, wall: number, cmds: SessionCommand[]): Answer[] {
    this.index = index;
    this.mono = Math.max(this.mono, mono);
    this.wall = Math.max(this.wall, wall);
    this.dueTransitions();
    return cmds.map((sc) => this.one(sc));
  }

  private byDue = (a: MTask, b: MTask): number => a.due - b.due || a.id - b.id;

  private dueTransitions(): void {
    const expired = this.tasks.filter((t) => t.state === 'leased' && t.due <= this.mono).sort(this.byDue);
    for (const t of expired) this.expireLease(t);
    for (const [wallDue, now] of [
      [false, this.mono],
      [true, this.wall],
    ] as const) {
      const ready = this.tasks
        .filter((t) => t.state === 'delayed' && t.wallDue === wallDue && t.due <= now && !this.q(t).settings.paused)
        .sort(this.byDue);
      for (const t of ready) this.toWaiting(t);
    }
    const ttl = this.tasks
      .filter(
        (t) =>
          t.ttlAt !== undefined && t.ttlAt <= this.mono && t.leases === 0 && ['waiting', 'delayed'].includes(t.state),
      )
      .sort((a, b) => (a.ttlAt as number) - (b.ttlAt as number) || a.id - b.id);
    for (const t of ttl) this.terminal(t, 'expired', 'ttl');
  }

  private toWaiting(t: MTask): void {
    t.state = 'waiting';
    t.wallDue = false;
  }

  /** delayMs > 0 delays on mono, a future runAt on wall; otherwise waiting. */
  private place(t: MTask, delayMs: number | undefined, runAt: number | undefined): void {
    if (delayMs !== undefined && delayMs > 0)
      Object.assign(t, { state: 'delayed', due: this.mono + delayMs, wallDue: false });
    else if (runAt !== undefined && runAt > this.wall)
      Object.assign(t, { state: 'delayed', due: runAt, wallDue: true });
    else this.toWaiting(t);
  }

  private q(t: MTask): MQueue {
    return this.queues.get(t.queue) as MQueue;
  }

  private lastAttempt(t: MTask): MAttempt {
    return t.history[t.history.length - 1] as MAttempt;
  }

  private expireLease(t: MTask): void {
    if (t.cancelReq === true) {
      Object.assign(this.lastAttempt(t), { end: 'lease_expired' });
      this.terminal(t, 'cancelled', 'cancelled');
      return;
    }
    t.deliveries++;
    Object.assign(this.lastAttempt(t), { end: 'lease_expired' });
    if (t.deliveries >= this.q(t).settings.maxDeliveries) this.terminal(t, 'dead', 'max_deliveries');
    else this.toWaiting(t);
  }

  private terminal(t: MTask, state: string, reason: string): void {
    t.state = state;
    t.reason = reason;
    if (state === 'dead') this.deadLetter(t);
  }

  private deadLetter(t: MTask): void {
    const target = this.q(t).settings.deadLetterQueue;
    if (target === null || target === t.queue) return;
    this.queueOrCreate(target);
    const d = this.newTask(target, { payload: t.payload, priority: t.priority });
    d.deadLetterOf = t.id;
    d.deadLetterQueue = t.queue;
    t.deadLetterId = d.id;
  }

  queueOrCreate(name: string, settings: Partial<QueueSettings> = {}): MQueue {
    let q = this.queues.get(name);
    if (q === undefined) {
      const merged = {
        ...DEFAULT_QUEUE_SETTINGS,
        ...settings,
        backoff: { ...DEFAULT_QUEUE_SETTINGS.backoff, ...settings.backoff },
      };
      q = { name, settings: merged as QueueSettings, keys: new Map() };
      this.queues.set(name, q);
    }
    return q;
  }

  private newTask(queue: string, spec: TaskSpec): MTask {
    const t: MTask = {
      id: this.nextId++,
      queue,
      payload: spec.payload,
      priority: spec.priority ?? 0,
      state: 'waiting',
      attempts: 0,
      deliveries: 0,
      leases: 0,
      due: 0,
      wallDue: false,
      token: 0,
      history: [],
    };
    if (spec.group !== undefined) t.group = spec.group;
    if (spec.ttlMs !== undefined) t.ttlAt = this.mono + spec.ttlMs;
    this.place(t, spec.delayMs, spec.runAt);
    this.tasks.push(t);
    return t;
  }

  private one(sc: SessionCommand): Answer {
    if (sc.session === null) return this.exec(sc.cmd, null);
    const s = this.sessions.get(sc.session);
    if (s === undefined || s.lastMono + s.timeoutMs <= this.mono) return fail('SESSION_EXPIRED');
    if (sc.floor !== undefined && sc.floor > s.floor) {
      s.floor = Math.min(sc.floor, sc.seq);
      for (const seq of [...s.answers.keys()]) if (seq < s.floor) s.answers.delete(seq);
    }
    if (sc.seq < s.floor) return fail('FAILED_PRECONDITION', { reason: 'seq_below_floor' });
    const cached = s.answers.get(sc.seq);
    if (cached !== undefined) return cached;
    if (s.answers.size >= DEFAULT_LIMITS.sessionOutstandingMax) return fail('RESOURCE_EXHAUSTED');
    const answer = this.exec(sc.cmd, s);
    if (this.sessions.get(s.id) === s) {
      s.answers.set(sc.seq, withoutPayloads(answer));
      s.lastMono = this.mono;
    }
    return answer;
  }

  private exec(cmd: Command, s: MSession | null): Answer {
    switch (cmd.type) {
      case 'openSession': {
        const id = String(this.nextSession++);
        const timeoutMs = cmd.timeoutMs ?? DEFAULT_LIMITS.sessionTimeoutMsDefault;
        this.sessions.set(id, { id, timeoutMs, lastMono: this.mono, floor: 0, answers: new Map() });
        return ok({ session: id, timeoutMs });
      }
      case 'keepAlive':
        return s === null ? fail('INVALID_ARGUMENT') : ok({});
      case 'advanceTime':
        return ok({});
      case 'createQueue': {
        if (this.queues.has(cmd.queue)) return fail('ALREADY_EXISTS');
        const q = this.queueOrCreate(cmd.queue, cmd.settings as Partial<QueueSettings>);
        return ok({ queue: q.name, settings: q.settings });
      }
      case 'pauseQueue':
      case 'resumeQueue': {
        const q = this.queues.get(cmd.queue);
        if (q === undefined) return fail('NOT_FOUND');
        q.settings = { ...q.settings, paused: cmd.type === 'pauseQueue' };
        return ok({ queue: q.name, settings: q.settings });
      }
      case 'enqueue':
        return this.enqueue(cmd);
      case 'lease':
        return this.lease(cmd);
      case 'ack':
        return ok({ items: cmd.items.map((i) => this.ack(i.id, i.token)) });
      case 'nack':
        return this.nack(cmd);
      case 'release':
        return this.release(cmd.id, cmd.token);
      case 'extend':
        return this.extend(cmd);
      case 'cancel':
        return this.cancel(cmd.id, cmd.running === true);
      case 'promote':
        return this.promote(cmd.id);
      case 'redrive':
        return this.redrive(cmd);
      case 'update':
        return this.update(cmd);
      case 'purgeQueue':
        return this.purge(cmd.queue);
      default:
        throw new Error(`model does not cover ${cmd.type}`);
    }
  }

  private enqueue(cmd: Extract<Command, { type: 'enqueue' }>): Answer {
    const q = this.queues.get(cmd.queue);
    const items: { id: string; deduplicated: boolean }[] = [];
    const batch = new Map<string, number>();
    let next = this.nextId;
    for (const spec of cmd.tasks) {
      const k = spec.idempotencyKey;
      const live = k === undefined ? undefined : q?.keys.get(k);
      const dup =
        live !== undefined && live.expiresAt > this.mono ? live.id : k === undefined ? undefined : batch.get(k);
      if (dup !== undefined) items.push({ id: String(dup), deduplicated: true });
      else {
        if (k !== undefined) batch.set(k, next);
        items.push({ id: String(next++), deduplicated: false });
      }
    }
    const fresh = next - this.nextId;
    const live = this.tasks.filter((t) => t.queue === cmd.queue && !TERMINAL.includes(t.state)).length;
    const max = q?.settings.maxLength ?? null;
    if (fresh > 0 && max !== null && live + fresh > max) return fail('RESOURCE_EXHAUSTED', { limit: 'maxLength' });
    const queue = this.queueOrCreate(cmd.queue);
    cmd.tasks.forEach((spec, i) => {
      if ((items[i] as { deduplicated: boolean }).deduplicated) return;
      const t = this.newTask(queue.name, spec);
      if (spec.idempotencyKey !== undefined) {
        queue.keys.set(spec.idempotencyKey, { id: t.id, expiresAt: this.mono + queue.settings.idempotencyWindowMs });
      }
    });
    return ok({ items });
  }

  /** First non-terminal task of its group, in id order. */
  private groupHead(t: MTask): boolean {
    if (t.group === undefined) return true;
    const first = this.tasks.find((o) => o.queue === t.queue && o.group === t.group && !TERMINAL.includes(o.state));
    return first === t;
  }

  private lease(cmd: Extract<Command, { type: 'lease' }>): Answer {
    const q = this.queues.get(cmd.queue);
    if (q === undefined || q.settings.paused) return ok({ tasks: [] });
    let n = cmd.max;
    const leased = this.tasks.filter((t) => t.queue === q.name && t.state === 'leased').length;
    if (q.settings.concurrency !== null) n = Math.min(n, q.settings.concurrency - leased);
    const out: unknown[] = [];
    while (out.length < n) {
      const ready = this.tasks
        .filter((t) => t.queue === q.name && t.state === 'waiting' && this.groupHead(t))
        .sort((a, b) => b.priority - a.priority || a.id - b.id);
      const t = ready[0];
      if (t === undefined) break;
      const leaseMs = cmd.leaseMs ?? q.settings.leaseMs;
      t.state = 'leased';
      t.leases++;
      t.token = this.index;
      t.due = this.mono + leaseMs;
      t.leaseMsCur = leaseMs;
      t.history.push({ token: this.index, worker: cmd.workerId, end: null, error: null, answer: null });
      if (t.history.length > DEFAULT_LIMITS.historyMax) t.history.shift();
      const lt: Record<string, unknown> = {
        id: String(t.id),
        queue: t.queue,
        token: String(t.token),
        payload: t.payload,
        headers: {},
        priority: t.priority,
        deadlineMono: t.due,
        leaseMs,
        attempts: t.attempts,
        deliveries: t.deliveries,
        leases: t.leases,
      };
      if (t.checkpoint !== undefined) lt['checkpoint'] = t.checkpoint;
      if (t.group !== undefined) lt['group'] = t.group;
      out.push(lt);
    }
    return ok({ tasks: out });
  }

  private check(idStr: string, tokenStr: string, end: string | null): MTask | Answer {
    const t = this.task(Number(idStr));
    const token = Number(tokenStr);
    if (t === undefined) return fail('NOT_FOUND');
    const a = t.history.find((h) => h.token === token);
    if (end !== null && a !== undefined && a.end === end) return ok(a.answer);
    if (token >= this.index) return fail('LEASE_LOST');
    if (t.state !== 'leased' || t.token !== token) return fail('LEASE_LOST');
    if (t.due <= this.mono) return fail('LEASE_LOST');
    return t;
  }

  /** A cancel-requested attempt ended, however: the task is cancelled. */
  private endCancelled(t: MTask, end: string, error: string | null): Answer {
    const answer = { state: 'cancelled' };
    Object.assign(this.lastAttempt(t), { end, error, answer });
    if (error !== null) t.lastError = error;
    this.terminal(t, 'cancelled', 'cancelled');
    return ok(answer);
  }

  private ack(id: string, token: string): Answer {
    const t = this.check(id, token, 'acked');
    if ('ok' in t) return t;
    if (t.cancelReq === true) return this.endCancelled(t, 'acked', null);
    const answer = { state: 'completed' };
    Object.assign(this.lastAttempt(t), { end: 'acked', answer });
    this.terminal(t, 'completed', 'acked');
    return ok(answer);
  }

  private nack(cmd: Extract<Command, { type: 'nack' }>): Answer {
    const t = this.check(cmd.id, cmd.token, 'nacked');
    if ('ok' in t) return t;
    if (t.cancelReq === true) return this.endCancelled(t, 'nacked', cmd.error ?? null);
    const q = this.q(t);
    t.attempts++;
    if (cmd.error !== undefined) t.lastError = cmd.error;
    const answer: Record<string, unknown> = { state: 'waiting' };
    Object.assign(this.lastAttempt(t), { end: 'nacked', error: cmd.error ?? null, answer });
    if (cmd.dead === true || t.attempts >= q.settings.maxAttempts) {
      answer['state'] = 'dead';
      this.terminal(t, 'dead', cmd.dead === true ? 'nacked_dead' : 'max_attempts');
      if (t.deadLetterId !== undefined) answer['deadLetterId'] = String(t.deadLetterId);
      return ok(answer);
    }
    const delay = cmd.delayMs ?? backoffDelay(q.settings, t.id, t.attempts);
    if (delay > 0) {
      answer['state'] = 'delayed';
      answer['runAtMono'] = this.mono + delay;
      Object.assign(t, { state: 'delayed', due: this.mono + delay, wallDue: false });
    } else t.state = 'waiting';
    return ok(answer);
  }

  private release(id: string, token: string): Answer {
    const t = this.check(id, token, 'released');
    if ('ok' in t) return t;
    if (t.cancelReq === true) return this.endCancelled(t, 'released', null);
    const answer = { state: 'waiting' };
    Object.assign(this.lastAttempt(t), { end: 'released', answer });
    this.toWaiting(t);
    return ok(answer);
  }

  private extend(cmd: Extract<Command, { type: 'extend' }>): Answer {
    const t = this.check(cmd.id, cmd.token, null);
    if ('ok' in t) return t;
    if (t.cancelReq === true) return fail('CANCELLED', { reason: 'cancelled' });
    const leaseMs = cmd.leaseMs ?? (t.leaseMsCur as number);
    t.leaseMsCur = leaseMs;
    t.due = this.mono + leaseMs;
    if (cmd.checkpoint !== undefined) t.checkpoint = cmd.checkpoint;
    return ok({ deadlineMono: t.due });
  }

  private cancel(id: string, running: boolean): Answer {
    const t = this.task(Number(id));
    if (t === undefined) return fail('NOT_FOUND');
    if (t.state === 'leased' && !running) return fail('FAILED_PRECONDITION', { reason: 'task_leased' });
    if (t.state === 'leased') {
      t.cancelReq = true;
      return ok({ state: 'leased', cancelRequested: true });
    }
    if (TERMINAL.includes(t.state)) return fail('FAILED_PRECONDITION', { reason: 'task_terminal' });
    this.terminal(t, 'cancelled', 'cancelled');
    return ok({ state: 'cancelled' });
  }

  private promote(id: string): Answer {
    const t = this.task(Number(id));
    if (t === undefined) return fail('NOT_FOUND');
    if (t.state !== 'delayed') return fail('FAILED_PRECONDITION', { reason: 'not_delayed' });
    this.toWaiting(t);
    return ok({ state: 'waiting' });
  }

  private update(cmd: Extract<Command, { type: 'update' }>): Answer {
    const t = this.task(Number(cmd.id));
    if (t === undefined) return fail('NOT_FOUND');
    if (t.state === 'leased') return fail('FAILED_PRECONDITION', { reason: 'task_leased' });
    if (TERMINAL.includes(t.state)) return fail('FAILED_PRECONDITION', { reason: 'task_terminal' });
    if (cmd.payload !== undefined) t.payload = cmd.payload;
    if (cmd.priority !== undefined) t.priority = cmd.priority;
    if (cmd.delayMs !== undefined || cmd.runAt !== undefined) this.place(t, cmd.delayMs, cmd.runAt);
    return ok({ state: t.state });
  }

  private purge(queue: string): Answer {
    if (!this.queues.has(queue)) return fail('NOT_FOUND');
    const live = this.tasks.filter((t) => t.queue === queue && !TERMINAL.includes(t.state));
    for (const t of live) {
      if (t.state === 'leased') Object.assign(this.lastAttempt(t), { end: 'cancelled' });
      this.terminal(t, 'cancelled', 'purged');
    }
    return ok({ purged: live.length });
  }

  private redrivable(t: MTask): boolean {
    if (t.state === 'dead') return t.deadLetterId === undefined && t.redrivenTo === undefined;
    return (t.state === 'waiting' || t.state === 'delayed') && t.deadLetterOf !== undefined;
  }

  private redrive(cmd: Extract<Command, { type: 'redrive' }>): Answer {
    if (!this.queues.has(cmd.queue)) return fail('NOT_FOUND');
    const inQueue = (t: MTask | undefined): t is MTask =>
      t !== undefined && t.queue === cmd.queue && this.redrivable(t);
    let picked: MTask[];
    if (cmd.ids !== undefined) {
      picked = [];
      for (const id of cmd.ids) {
        const t = this.task(Number(id));
        if (inQueue(t) && !picked.includes(t)) picked.push(t);
      }
    } else picked = this.tasks.filter(inQueue).slice(0, cmd.max ?? DEFAULT_LIMITS.redriveMax);
    const items = picked.map((t) => {
      const target = cmd.toQueue ?? t.deadLetterQueue ?? cmd.queue;
      this.queueOrCreate(target);
      const spec: TaskSpec = { payload: t.payload, priority: t.priority };
      if (t.group !== undefined) spec.group = t.group;
      const n = this.newTask(target, spec);
      n.redrivenFrom = t.id;
      if (t.state === 'dead') t.redrivenTo = n.id;
      else this.terminal(t, 'cancelled', 'redriven');
      return { from: String(t.id), id: String(n.id) };
    });
    return ok({ items });
  }
}

export function withoutPayloads(answer: Answer): Answer {
  if (!answer.ok) return answer;
  const v = answer.value as { tasks?: Record<string, unknown>[] };
  if (v === null || typeof v !== 'object' || !Array.isArray(v.tasks)) return answer;
  return ok({ ...v, tasks: v.tasks.map(({ payload: _p, ...rest }) => rest) });
}

/** Errors compare by code (and reason / field / limit), not by message text, at any depth. */
export function normalize(a: unknown): unknown {
  if (a === null || typeof a !== 'object' || a instanceof Uint8Array) return a;
  if (Array.isArray(a)) return a.map(normalize);
  const o = a as Record<string, unknown>;
  if (o['ok'] === false) {
    const e = o['error'] as { code: string; reason?: string; field?: string; limit?: string };
    return { ok: false, code: e.code, reason: e.reason, field: e.field, limit: e.limit };
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) out[k] = normalize(o[k]);
  return out;
}
