// Proto-shaped requests and replies <-> the SDK's types. Replies are decoded defensively: a field of
// the wrong type becomes its zero value rather than a throw deep inside user code.
import type {
  AttemptRecord,
  Command,
  LeasedTask,
  QueueSettings,
  QueueStats,
  TaskEvent,
  TaskState,
  TaskView,
} from '../protocol/commands.js';
import type { ErrorDetail } from '../protocol/errors.js';
import type { Message } from './transport.js';

type Obj = Record<string, unknown>;

const NULLABLE_SETTINGS = ['deadLetterQueue', 'maxLength', 'taskTtlMs', 'concurrency'] as const;

/** A validated command as a request body (the header is added per attempt). */
export function commandToRequest(cmd: Command): Message {
  const { type: _type, ...fields } = cmd as Command & Obj;
  const out: Message = { ...fields };
  if ('settings' in cmd && cmd.settings !== undefined) out['settings'] = settingsToWire(cmd.settings);
  return out;
}

function settingsToWire(settings: object): Message {
  const out: Message = {};
  const unset: string[] = [];
  for (const [k, v] of Object.entries(settings)) {
    if (v === null && (NULLABLE_SETTINGS as readonly string[]).includes(k)) unset.push(k);
    else if (v !== undefined) out[k] = v;
  }
  if (unset.length > 0) out['unset'] = unset;
  return out;
}

function obj(v: unknown): Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
}
function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
function optStr(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function optNum(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
function bytes(v: unknown): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(0);
}
function optBytes(v: unknown): Uint8Array | undefined {
  return v instanceof Uint8Array ? v : undefined;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(obj(v))) if (typeof x === 'string') out[k] = x;
  return out;
}

export function leasedTaskFromWire(v: unknown): LeasedTask {
  const o = obj(v);
  const t: LeasedTask = {
    id: str(o['id']),
    queue: str(o['queue']),
    token: str(o['token']),
    headers: strMap(o['headers']),
    priority: num(o['priority']),
    deadlineMono: num(o['deadlineMono']),
    leaseMs: num(o['leaseMs']),
    attempts: num(o['attempts']),
    deliveries: num(o['deliveries']),
    leases: num(o['leases']),
  };
  const payload = optBytes(o['payload']);
  if (payload !== undefined) t.payload = payload;
  const checkpoint = optBytes(o['checkpoint']);
  if (checkpoint !== undefined) t.checkpoint = checkpoint;
  const group = optStr(o['group']);
  if (group !== undefined) t.group = group;
  return t;
}

function attemptFromWire(v: unknown): AttemptRecord {
  const o = obj(v);
  return {
    token: str(o['token']),
    workerId: str(o['workerId']),
    leasedMono: num(o['leasedMono']),
    leasedWall: num(o['leasedWall']),
    end: (optStr(o['end']) ?? null) as AttemptRecord['end'],
    endedMono: optNum(o['endedMono']) ?? null,
    error: optStr(o['error']) ?? null,
  };
}

export function taskViewFromWire(v: unknown): TaskView {
  const o = obj(v);
  const t: TaskView = {
    id: str(o['id']),
    queue: str(o['queue']),
    state: str(o['state']) as TaskState,
    payload: bytes(o['payload']),
    headers: strMap(o['headers']),
    priority: num(o['priority']),
    attempts: num(o['attempts']),
    deliveries: num(o['deliveries']),
    leases: num(o['leases']),
    maxAttempts: num(o['maxAttempts']),
    maxDeliveries: num(o['maxDeliveries']),
    enqueuedMono: num(o['enqueuedMono']),
    enqueuedWall: num(o['enqueuedWall']),
    history: arr(o['history']).map(attemptFromWire),
  };
  const copy = <K extends keyof TaskView>(k: K, x: TaskView[K] | undefined): void => {
    if (x !== undefined) t[k] = x;
  };
  copy('group', optStr(o['group']));
  copy('idempotencyKey', optStr(o['idempotencyKey']));
  if (o['runAt'] !== null && o['runAt'] !== undefined) {
    const r = obj(o['runAt']);
    t.runAt = { clock: r['clock'] === 'wall' ? 'wall' : 'mono', at: num(r['at']) };
  }
  if (o['lease'] !== null && o['lease'] !== undefined) {
    const l = obj(o['lease']);
    t.lease = {
      token: str(l['token']),
      workerId: str(l['workerId']),
      deadlineMono: num(l['deadlineMono']),
      expired: l['expired'] === true,
    };
  }
  copy('progress', optNum(o['progress']));
  copy('checkpoint', optBytes(o['checkpoint']));
  copy('result', optBytes(o['result']));
  copy('lastError', optStr(o['lastError']));
  copy('reason', optStr(o['reason']));
  copy('endedMono', optNum(o['endedMono']));
  if (o['deadLetterOf'] !== null && o['deadLetterOf'] !== undefined) {
    const d = obj(o['deadLetterOf']);
    t.deadLetterOf = {
      id: str(d['id']),
      queue: str(d['queue']),
      reason: str(d['reason']),
      history: arr(d['history']).map(attemptFromWire),
    };
  }
  copy('deadLetterId', optStr(o['deadLetterId']));
  copy('redrivenFrom', optStr(o['redrivenFrom']));
  return t;
}

function settingsFromWire(v: unknown): QueueSettings {
  const o = obj(v);
  const b = obj(o['backoff']);
  return {
    leaseMs: num(o['leaseMs']),
    maxAttempts: num(o['maxAttempts']),
    maxDeliveries: num(o['maxDeliveries']),
    backoff: {
      type: b['type'] === 'fixed' ? 'fixed' : 'exponential',
      delayMs: num(b['delayMs']),
      maxDelayMs: num(b['maxDelayMs']),
      jitterPct: num(b['jitterPct']),
    },
    deadLetterQueue: optStr(o['deadLetterQueue']) ?? null,
    maxLength: optNum(o['maxLength']) ?? null,
    retentionMs: num(o['retentionMs']),
    taskTtlMs: optNum(o['taskTtlMs']) ?? null,
    idempotencyWindowMs: num(o['idempotencyWindowMs']),
    concurrency: optNum(o['concurrency']) ?? null,
    paused: o['paused'] === true,
  };
}

export function statsFromWire(v: unknown): QueueStats {
  const o = obj(v);
  const c = obj(o['counts']);
  const t = obj(o['totals']);
  return {
    queue: str(o['queue']),
    counts: {
      waiting: num(c['waiting']),
      delayed: num(c['delayed']),
      leased: num(c['leased']),
      completed: num(c['completed']),
      dead: num(c['dead']),
      cancelled: num(c['cancelled']),
      expired: num(c['expired']),
    },
    oldestWaitingAgeMs: optNum(o['oldestWaitingAgeMs']) ?? null,
    totals: {
      enqueued: num(t['enqueued']),
      completed: num(t['completed']),
      dead: num(t['dead']),
      cancelled: num(t['cancelled']),
      expired: num(t['expired']),
      failed: num(t['failed']),
      leaseExpired: num(t['leaseExpired']),
      removedByRetention: num(t['removedByRetention']),
    },
    settings: settingsFromWire(o['settings']),
  };
}

export function eventFromWire(v: unknown): TaskEvent {
  const o = obj(v);
  const e: TaskEvent = {
    type: str(o['type']) as TaskEvent['type'],
    id: str(o['id']),
    queue: str(o['queue']),
    index: num(o['index']),
    state: str(o['state']) as TaskState,
  };
  const token = optStr(o['token']);
  if (token !== undefined) e.token = token;
  const reason = optStr(o['reason']);
  if (reason !== undefined) e.reason = reason;
  return e;
}

export function errorFromWire(v: unknown): ErrorDetail {
  const o = obj(v);
  const d: ErrorDetail = { code: str(o['code']) as ErrorDetail['code'], message: str(o['message']) };
  for (const k of ['field', 'reason', 'limit', 'leaderHint'] as const) {
    const x = optStr(o[k]);
    if (x !== undefined) d[k] = x;
  }
  const r = optNum(o['retryAfterMs']);
  if (r !== undefined) d.retryAfterMs = r;
  return d;
}

export { obj as asObject, str as asString, num as asNumber, arr as asArray, optStr as asOptionalString };
