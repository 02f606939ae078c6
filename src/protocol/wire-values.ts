// Value codecs of client.proto shared by every message: tasks, stats, events, errors, settings.
// Decoding is lenient and total: a field of the wrong type becomes its zero value, never a throw
// (proto-loader fills defaults, so a well-formed message never needs it).
import type {
  AttemptRecord,
  LeasedTask,
  QueueSettings,
  QueueSettingsPatch,
  QueueStats,
  TaskEvent,
  TaskState,
  DependencyView,
  TaskView,
} from './commands.js';
import type { ErrorDetail } from './errors.js';
import { keyCostFromWire, limitSettingsFromReply, limitSettingsToWire } from './wire-limits.js';
import { storyFromWire } from './story.js';
import { asLogIndex, asTaskId } from './ids.js';

/** A proto-shaped message as proto-loader gives and takes it. */
export type Message = Record<string, unknown>;
type Obj = Message;

/** The settings fields a patch may reset to "none" (client.proto QueueSettings.unset). */
export const NULLABLE_SETTINGS = [
  'deadLetterQueue',
  'maxLength',
  'taskTtlMs',
  'concurrency',
  'rate',
  'maxWaiting',
  'sharedLimit',
] as const;

export function settingsPatchToWire(settings: QueueSettingsPatch): Message {
  const out: Message = {};
  const unset: string[] = [];
  for (const [k, v] of Object.entries(settings)) {
    if (v === null && (NULLABLE_SETTINGS as readonly string[]).includes(k)) unset.push(k);
    else if (v !== undefined) out[k] = v;
  }
  if (unset.length > 0) out['unset'] = unset;
  limitSettingsToWire(out);
  return out;
}

export function asObject(v: unknown): Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
}
export function asString(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
export function asNumber(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
export function asOptionalString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
export function asOptionalNumber(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
export function asBytes(v: unknown): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(0);
}
export function asOptionalBytes(v: unknown): Uint8Array | undefined {
  return v instanceof Uint8Array ? v : undefined;
}
export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
export function asStringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const o = asObject(v);
  // for...in, not Object.entries: once per decoded task (no pair arrays).
  for (const k in o) {
    const x = o[k];
    if (Object.hasOwn(o, k) && typeof x === 'string') out[k] = x;
  }
  return out;
}

export function leasedTaskFromWire(v: unknown): LeasedTask {
  const o = asObject(v);
  const t: LeasedTask = {
    id: asString(o['id']),
    queue: asString(o['queue']),
    token: asString(o['token']),
    headers: asStringMap(o['headers']),
    priority: asNumber(o['priority']),
    deadlineMono: asNumber(o['deadlineMono']),
    leaseMs: asNumber(o['leaseMs']),
    attempts: asNumber(o['attempts']),
    deliveries: asNumber(o['deliveries']),
    leases: asNumber(o['leases']),
  };
  const payload = asOptionalBytes(o['payload']);
  if (payload !== undefined) t.payload = payload;
  const checkpoint = asOptionalBytes(o['checkpoint']);
  if (checkpoint !== undefined) t.checkpoint = checkpoint;
  const group = asOptionalString(o['group']);
  if (group !== undefined) t.group = group;
  keyCostFromWire(o, t);
  const secret = asOptionalString(o['secret']);
  if (secret !== undefined) t.secret = secret;
  return t;
}

export function attemptFromWire(v: unknown): AttemptRecord {
  const o = asObject(v);
  const a: AttemptRecord = {
    token: asString(o['token']),
    workerId: asString(o['workerId']),
    leasedMono: asNumber(o['leasedMono']),
    leasedWall: asNumber(o['leasedWall']),
    end: (asOptionalString(o['end']) ?? null) as AttemptRecord['end'],
    endedMono: asOptionalNumber(o['endedMono']) ?? null,
    error: asOptionalString(o['error']) ?? null,
  };
  for (const k of ['leasedTerm', 'endedIndex', 'endedTerm'] as const) {
    const n = asOptionalNumber(o[k]);
    if (n !== undefined) a[k] = n;
  }
  return a;
}

export function taskViewFromWire(v: unknown): TaskView {
  const o = asObject(v);
  const t: TaskView = {
    id: asString(o['id']),
    queue: asString(o['queue']),
    state: asString(o['state']) as TaskState,
    payload: asBytes(o['payload']),
    headers: asStringMap(o['headers']),
    priority: asNumber(o['priority']),
    attempts: asNumber(o['attempts']),
    deliveries: asNumber(o['deliveries']),
    leases: asNumber(o['leases']),
    maxAttempts: asNumber(o['maxAttempts']),
    maxDeliveries: asNumber(o['maxDeliveries']),
    enqueuedMono: asNumber(o['enqueuedMono']),
    enqueuedWall: asNumber(o['enqueuedWall']),
    history: asArray(o['history']).map(attemptFromWire),
  };
  const copy = <K extends keyof TaskView>(k: K, x: TaskView[K] | undefined): void => {
    if (x !== undefined) t[k] = x;
  };
  copy('group', asOptionalString(o['group']));
  copy('idempotencyKey', asOptionalString(o['idempotencyKey']));
  keyCostFromWire(o, t);
  if (o['runAt'] !== null && o['runAt'] !== undefined) {
    const r = asObject(o['runAt']);
    t.runAt = { clock: r['clock'] === 'wall' ? 'wall' : 'mono', at: asNumber(r['at']) };
  }
  if (o['lease'] !== null && o['lease'] !== undefined) {
    const l = asObject(o['lease']);
    t.lease = {
      token: asString(l['token']),
      workerId: asString(l['workerId']),
      deadlineMono: asNumber(l['deadlineMono']),
      expired: l['expired'] === true,
    };
  }
  copy('progress', asOptionalNumber(o['progress']));
  copy('checkpoint', asOptionalBytes(o['checkpoint']));
  copy('result', asOptionalBytes(o['result']));
  copy('lastError', asOptionalString(o['lastError']));
  copy('reason', asOptionalString(o['reason']));
  copy('endedMono', asOptionalNumber(o['endedMono']));
  if (o['deadLetterOf'] !== null && o['deadLetterOf'] !== undefined) {
    const d = asObject(o['deadLetterOf']);
    t.deadLetterOf = {
      id: asString(d['id']),
      queue: asString(d['queue']),
      reason: asString(d['reason']),
      history: asArray(d['history']).map(attemptFromWire),
    };
  }
  copy('deadLetterId', asOptionalString(o['deadLetterId']));
  copy('redrivenFrom', asOptionalString(o['redrivenFrom']));
  for (const k of ['enqueuedIndex', 'enqueuedTerm', 'endedIndex', 'endedTerm'] as const)
    copy(k, asOptionalNumber(o[k]));
  workflowFieldsFromWire(o, t);
  copy('story', storyFromWire(o['story']));
  return t;
}

/** The workflow fields of a task (docs/workflows.md), when present. */
function workflowFieldsFromWire(o: Message, t: TaskView): void {
  if (o['cancelRequested'] === true) t.cancelRequested = true;
  const deps = asArray(o['dependsOn']);
  if (deps.length > 0) {
    t.dependsOn = deps.map((v) => {
      const d = asObject(v);
      const policy = asOptionalString(d['policy']);
      const out: DependencyView = {
        id: asString(d['id']),
        policy: policy === 'ignore' || policy === 'remove' ? policy : 'fail',
      };
      const ended = asOptionalString(d['ended']);
      if (ended !== undefined && ended !== '') out.ended = ended as TaskState;
      if (d['removed'] === true) out.removed = true;
      return out;
    });
  }
  const dependants = asArray(o['dependants']);
  if (dependants.length > 0) t.dependants = dependants.map(asString);
  const flow = asOptionalString(o['flow']);
  if (flow !== undefined && flow !== '') t.flow = flow;
}

export function settingsFromWire(v: unknown): QueueSettings {
  const o = asObject(v);
  const b = asObject(o['backoff']);
  const s: QueueSettings = {
    leaseMs: asNumber(o['leaseMs']),
    maxAttempts: asNumber(o['maxAttempts']),
    maxDeliveries: asNumber(o['maxDeliveries']),
    backoff: {
      type: b['type'] === 'fixed' ? 'fixed' : 'exponential',
      delayMs: asNumber(b['delayMs']),
      maxDelayMs: asNumber(b['maxDelayMs']),
      jitterPct: asNumber(b['jitterPct']),
    },
    deadLetterQueue: asOptionalString(o['deadLetterQueue']) ?? null,
    maxLength: asOptionalNumber(o['maxLength']) ?? null,
    retentionMs: asNumber(o['retentionMs']),
    taskTtlMs: asOptionalNumber(o['taskTtlMs']) ?? null,
    idempotencyWindowMs: asNumber(o['idempotencyWindowMs']),
    concurrency: asOptionalNumber(o['concurrency']) ?? null,
    paused: o['paused'] === true,
  };
  limitSettingsFromReply(o, s);
  return s;
}

export function statsFromWire(v: unknown): QueueStats {
  const o = asObject(v);
  const c = asObject(o['counts']);
  const t = asObject(o['totals']);
  return {
    queue: asString(o['queue']),
    counts: {
      waiting: asNumber(c['waiting']),
      delayed: asNumber(c['delayed']),
      leased: asNumber(c['leased']),
      completed: asNumber(c['completed']),
      dead: asNumber(c['dead']),
      cancelled: asNumber(c['cancelled']),
      expired: asNumber(c['expired']),
      'waiting-children': asNumber(c['waiting-children']),
    },
    oldestWaitingAgeMs: asOptionalNumber(o['oldestWaitingAgeMs']) ?? null,
    totals: {
      enqueued: asNumber(t['enqueued']),
      completed: asNumber(t['completed']),
      dead: asNumber(t['dead']),
      cancelled: asNumber(t['cancelled']),
      expired: asNumber(t['expired']),
      failed: asNumber(t['failed']),
      leaseExpired: asNumber(t['leaseExpired']),
      removedByRetention: asNumber(t['removedByRetention']),
    },
    settings: settingsFromWire(o['settings']),
  };
}

export function eventFromWire(v: unknown): TaskEvent {
  const o = asObject(v);
  const e: TaskEvent = {
    type: asString(o['type']) as TaskEvent['type'],
    id: asTaskId(asString(o['id'])),
    queue: asString(o['queue']),
    index: asLogIndex(asNumber(o['index'])),
    state: asString(o['state']) as TaskState,
  };
  const token = asOptionalString(o['token']);
  if (token !== undefined) e.token = token;
  const reason = asOptionalString(o['reason']);
  if (reason !== undefined) e.reason = reason;
  return e;
}

export function errorFromWire(v: unknown): ErrorDetail {
  const o = asObject(v);
  const d: ErrorDetail = { code: asString(o['code']) as ErrorDetail['code'], message: asString(o['message']) };
  for (const k of ['field', 'reason', 'limit', 'leaderHint'] as const) {
    const x = asOptionalString(o[k]);
    if (x !== undefined) d[k] = x;
  }
  const r = asOptionalNumber(o['retryAfterMs']);
  if (r !== undefined) d.retryAfterMs = r;
  return d;
}
