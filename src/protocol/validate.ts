// Command validators: the node validates before proposing, the state machine again on apply.
// Each returns a fresh, normalized command (only known fields) or an INVALID_ARGUMENT detail naming
// the field. Total: never throws on any input.

import type {
  AckItem,
  Backoff,
  Command,
  DedupSpec,
  KeyLimits,
  QueueSettingsPatch,
  RateLimit,
  TaskSpec,
} from './commands.js';
import type { ErrorDetail } from './errors.js';
import type { Limits } from './limits.js';
import { parseId } from './codec.js';
import { scheduleValidators } from './schedules.js';
import { sharedLimitValidators } from './shared-limits.js';
import { checkScheduleProposal } from './schedule-cron.js';
import type { FlowCommandType } from './validate-flows.js';
import { flowValidators } from './validate-flows.js';
import { isLeaseSecret } from './lease-secret.js';
import { tokenValidators } from './tokens.js';

export type Validated<T> = { ok: true; value: T } | { ok: false; error: ErrorDetail };

class Invalid {
  constructor(
    readonly field: string,
    readonly message: string,
  ) {}
}

function fail(field: string, message: string): never {
  throw new Invalid(field, message);
}

type Obj = Record<string, unknown>;

/**
 * The parent of a field, spelled out only when a field under it fails: a list item names no string
 * on the success path (an enqueue of 1,000 tasks used to build ~17 field names per task).
 */
class Under {
  constructor(
    private readonly base: string,
    private readonly index = -1,
  ) {}
  toString(): string {
    return this.index < 0 ? this.base : `${this.base}[${this.index}]`;
  }
  field(k: string): string {
    return `${this.toString()}.${k}`;
  }
}

/** A field's path in full, or the parent it hangs under (then the path is `parent.k`). */
type Path = string | Under;

function pathOf(p: Path, k: string): string {
  return typeof p === 'string' ? p : p.field(k);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function own(o: Obj, k: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

/** UTF-8 length without allocating. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

const NAME = /^[A-Za-z0-9._:/-]+$/;

function name(o: Obj, k: string, path: Path, limits: Limits): string {
  const v = own(o, k);
  if (typeof v !== 'string' || v.length === 0 || v.length > limits.nameBytesMax || !NAME.test(v)) {
    fail(pathOf(path, k), `must be a name of 1..${limits.nameBytesMax} characters [A-Za-z0-9._:/-]`);
  }
  return v;
}

function str(o: Obj, k: string, path: Path, maxBytes: number, optional: true): string | undefined;
function str(o: Obj, k: string, path: Path, maxBytes: number, optional?: false): string;
function str(o: Obj, k: string, path: Path, maxBytes: number, optional = false): string | undefined {
  const v = own(o, k);
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v.length === 0 || utf8Length(v) > maxBytes) {
    fail(pathOf(path, k), `must be a non-empty string of at most ${maxBytes} bytes`);
  }
  return v;
}

function int(o: Obj, k: string, path: Path, min: number, max: number, optional: true): number | undefined;
function int(o: Obj, k: string, path: Path, min: number, max: number, optional?: false): number;
function int(o: Obj, k: string, path: Path, min: number, max: number, optional = false): number | undefined {
  const v = own(o, k);
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    fail(pathOf(path, k), `must be an integer in [${min}, ${max}]`);
  }
  return v;
}

function bool(o: Obj, k: string, path: Path): boolean | undefined {
  const v = own(o, k);
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') fail(pathOf(path, k), 'must be a boolean');
  return v;
}

function bytes(o: Obj, k: string, path: Path, maxBytes: number, optional: true): Uint8Array | undefined;
function bytes(o: Obj, k: string, path: Path, maxBytes: number, optional?: false): Uint8Array;
function bytes(o: Obj, k: string, path: Path, maxBytes: number, optional = false): Uint8Array | undefined {
  const v = own(o, k);
  if (v === undefined && optional) return undefined;
  if (!(v instanceof Uint8Array)) fail(pathOf(path, k), 'must be bytes');
  if (v.byteLength > maxBytes) fail(pathOf(path, k), `must be at most ${maxBytes} bytes`);
  return v;
}

function id(o: Obj, k: string, path: Path): string {
  const v = own(o, k);
  if (parseId(v) === null) fail(pathOf(path, k), 'must be a decimal id string');
  return v as string;
}

/** The optional holder secret of a lease command (lease-secret.ts). */
function secretOf(o: Obj, path: Path): { secret?: string } {
  const v = secret(o, path);
  return v === undefined ? {} : { secret: v };
}

function secret(o: Obj, path: Path): string | undefined {
  const v = own(o, 'secret');
  if (v === undefined) return undefined;
  if (!isLeaseSecret(v)) fail(pathOf(path, 'secret'), 'must be a lease secret (16..64 base64url characters)');
  return v;
}

/** `parent.headers`, sorted by key. */
function headers(o: Obj, parent: Under, limits: Limits): Record<string, string> | undefined {
  const v = own(o, 'headers');
  if (v === undefined) return undefined;
  const path = parent.field('headers');
  if (!isObj(v)) fail(path, 'must be a map of strings');
  const keys = Object.keys(v);
  if (keys.length > limits.headersMax) fail(path, `at most ${limits.headersMax} headers`);
  let total = 0;
  const out: Record<string, string> = {};
  for (const key of keys.sort()) {
    const value = v[key];
    if (typeof value !== 'string' || key.length === 0) fail(`${path}.${key}`, 'must be a string');
    total += utf8Length(key) + utf8Length(value);
    out[key] = value;
  }
  if (total > limits.headerBytesMax) fail(path, `at most ${limits.headerBytesMax} bytes in all`);
  return out;
}

const PRIORITY_MAX = 1_000_000;

function taskSpec(v: unknown, path: Path, limits: Limits): TaskSpec {
  if (!isObj(v)) fail(String(path), 'must be a task');
  const at = typeof path === 'string' ? new Under(path) : path;
  const out: TaskSpec = { payload: bytes(v, 'payload', at, limits.payloadBytesMax) };
  const h = headers(v, at, limits);
  if (h !== undefined) out.headers = h;
  const priority = int(v, 'priority', at, -PRIORITY_MAX, PRIORITY_MAX, true);
  if (priority !== undefined) out.priority = priority;
  const delayMs = int(v, 'delayMs', at, 0, limits.delayMsMax, true);
  const runAt = int(v, 'runAt', at, 0, Number.MAX_SAFE_INTEGER, true);
  if (delayMs !== undefined && runAt !== undefined) fail(at.field('runAt'), 'exclusive with delayMs');
  if (delayMs !== undefined) out.delayMs = delayMs;
  if (runAt !== undefined) out.runAt = runAt;
  const key = str(v, 'idempotencyKey', at, limits.keyBytesMax, true);
  if (key !== undefined) out.idempotencyKey = key;
  const group = str(v, 'group', at, limits.keyBytesMax, true);
  if (group !== undefined) out.group = group;
  const ttlMs = int(v, 'ttlMs', at, 1, limits.delayMsMax, true);
  if (ttlMs !== undefined) out.ttlMs = ttlMs;
  const maxAttempts = int(v, 'maxAttempts', at, 1, 1_000_000, true);
  if (maxAttempts !== undefined) out.maxAttempts = maxAttempts;
  const maxDeliveries = int(v, 'maxDeliveries', at, 1, 1_000_000, true);
  if (maxDeliveries !== undefined) out.maxDeliveries = maxDeliveries;
  const leaseMs = int(v, 'leaseMs', at, 1, limits.leaseMsMax, true);
  if (leaseMs !== undefined) out.leaseMs = leaseMs;
  const limitKey = str(v, 'key', at, limits.keyBytesMax, true);
  if (limitKey !== undefined) out.key = limitKey;
  const cost = int(v, 'cost', at, 1, COST_MAX, true);
  if (cost !== undefined && cost !== 1) out.cost = cost;
  if (own(v, 'dedup') !== undefined) {
    if (key !== undefined) fail(at.field('dedup'), 'exclusive with idempotencyKey');
    out.dedup = dedupSpec(own(v, 'dedup'), at.field('dedup'), limits);
  }
  const customId = str(v, 'id', at, limits.keyBytesMax, true);
  if (customId !== undefined && (key !== undefined || out.dedup !== undefined))
    fail(at.field('id'), 'exclusive with idempotencyKey and dedup');
  if (customId !== undefined) out.id = customId;
  if (own(v, 'backoff') !== undefined) out.backoff = backoff(own(v, 'backoff'), at.field('backoff'), limits);
  if (own(v, 'dependsOn') !== undefined) out.dependsOn = FLOW.dependsOn(v, out, String(at));
  return out;
}

const DEDUP_MODES = ['active', 'throttle', 'debounce'];

function dedupSpec(v: unknown, path: string, limits: Limits): DedupSpec {
  if (!isObj(v)) fail(path, "must be { key, mode: 'active' | 'throttle' | 'debounce', windowMs? }");
  const mode = own(v, 'mode');
  if (typeof mode !== 'string' || !DEDUP_MODES.includes(mode)) {
    fail(`${path}.mode`, "must be 'active', 'throttle' or 'debounce'");
  }
  const out: DedupSpec = { key: str(v, 'key', `${path}.key`, limits.keyBytesMax), mode: mode as DedupSpec['mode'] };
  const windowMs = int(v, 'windowMs', `${path}.windowMs`, 1, limits.delayMsMax, true);
  if (windowMs !== undefined) out.windowMs = windowMs;
  return out;
}

/** Largest cost of one task; concurrency and rate limits are counted in the same units. */
export const COST_MAX = 1_000_000;
/** Longest rate interval (a day): token arithmetic stays exact in integers. */
export const RATE_INTERVAL_MS_MAX = 86_400_000;
/** Per-key overrides in one queue's settings. */
export const KEY_OVERRIDES_MAX = 1000;
export const WEIGHT_MAX = 1000;

function rate(o: Obj, k: string, path: string): RateLimit | null | undefined {
  const v = own(o, k);
  if (v === undefined || v === null) return v;
  if (!isObj(v)) fail(path, 'must be a rate {limit, intervalMs, burst?} or null');
  const out: RateLimit = {
    limit: int(v, 'limit', `${path}.limit`, 1, COST_MAX),
    intervalMs: int(v, 'intervalMs', `${path}.intervalMs`, 1, RATE_INTERVAL_MS_MAX),
  };
  const burst = int(v, 'burst', `${path}.burst`, 1, COST_MAX, true);
  if (burst !== undefined) out.burst = burst;
  return out;
}

function keyLimits(v: unknown, path: string): KeyLimits {
  if (!isObj(v)) fail(path, 'must be key limits {concurrency?, rate?, weight?}');
  const out: KeyLimits = {};
  const concurrency = nullableInt(v, 'concurrency', `${path}.concurrency`, 1, COST_MAX);
  if (concurrency !== undefined) out.concurrency = concurrency;
  const r = rate(v, 'rate', `${path}.rate`);
  if (r !== undefined) out.rate = r;
  const weight = int(v, 'weight', `${path}.weight`, 1, WEIGHT_MAX, true);
  if (weight !== undefined) out.weight = weight;
  const maxWaiting = nullableInt(v, 'maxWaiting', `${path}.maxWaiting`, 1, Number.MAX_SAFE_INTEGER);
  if (maxWaiting !== undefined) out.maxWaiting = maxWaiting;
  return out;
}

function keyOverrides(v: unknown, path: string, limits: Limits): Record<string, KeyLimits | null> {
  if (!isObj(v)) fail(path, 'must be a map of key limits');
  const names = Object.keys(v).sort();
  if (names.length > KEY_OVERRIDES_MAX) fail(path, `at most ${KEY_OVERRIDES_MAX} keys`);
  const out: Record<string, KeyLimits | null> = {};
  for (const k of names) {
    if (k.length === 0 || utf8Length(k) > limits.keyBytesMax) fail(`${path}.${k}`, 'key must be 1..keyBytesMax bytes');
    out[k] = v[k] === null ? null : keyLimits(v[k], `${path}.${k}`);
  }
  return out;
}

function backoff(v: unknown, path: string, limits: Limits): Partial<Backoff> {
  if (!isObj(v)) fail(path, 'must be a backoff');
  const out: Partial<Backoff> = {};
  const type = own(v, 'type');
  if (type !== undefined) {
    if (type !== 'fixed' && type !== 'exponential') fail(`${path}.type`, "must be 'fixed' or 'exponential'");
    out.type = type;
  }
  const delayMs = int(v, 'delayMs', `${path}.delayMs`, 0, limits.delayMsMax, true);
  if (delayMs !== undefined) out.delayMs = delayMs;
  const maxDelayMs = int(v, 'maxDelayMs', `${path}.maxDelayMs`, 0, limits.delayMsMax, true);
  if (maxDelayMs !== undefined) out.maxDelayMs = maxDelayMs;
  const jitterPct = int(v, 'jitterPct', `${path}.jitterPct`, 0, 100, true);
  if (jitterPct !== undefined) out.jitterPct = jitterPct;
  return out;
}

function nullableInt(o: Obj, k: string, path: string, min: number, max: number): number | null | undefined {
  if (own(o, k) === null) return null;
  return int(o, k, path, min, max, true);
}

export type SettingsPatch = QueueSettingsPatch;

function settings(v: unknown, path: string, limits: Limits): SettingsPatch {
  if (v === undefined) return {};
  if (!isObj(v)) fail(path, 'must be queue settings');
  const out: SettingsPatch = {};
  const set = <K extends keyof SettingsPatch>(k: K, x: SettingsPatch[K] | undefined): void => {
    if (x !== undefined) out[k] = x;
  };
  set('leaseMs', int(v, 'leaseMs', `${path}.leaseMs`, 1, limits.leaseMsMax, true));
  set('maxAttempts', int(v, 'maxAttempts', `${path}.maxAttempts`, 1, 1_000_000, true));
  set('maxDeliveries', int(v, 'maxDeliveries', `${path}.maxDeliveries`, 1, 1_000_000, true));
  if (own(v, 'backoff') !== undefined) out.backoff = backoff(own(v, 'backoff'), `${path}.backoff`, limits);
  if (own(v, 'deadLetterQueue') === null) out.deadLetterQueue = null;
  else if (own(v, 'deadLetterQueue') !== undefined) {
    out.deadLetterQueue = name(v, 'deadLetterQueue', `${path}.deadLetterQueue`, limits);
  }
  set('maxLength', nullableInt(v, 'maxLength', `${path}.maxLength`, 1, limits.tasksMax));
  set('retentionMs', int(v, 'retentionMs', `${path}.retentionMs`, 0, limits.delayMsMax, true));
  set('taskTtlMs', nullableInt(v, 'taskTtlMs', `${path}.taskTtlMs`, 1, limits.delayMsMax));
  set('idempotencyWindowMs', int(v, 'idempotencyWindowMs', `${path}.idempotencyWindowMs`, 0, limits.delayMsMax, true));
  set('concurrency', nullableInt(v, 'concurrency', `${path}.concurrency`, 1, COST_MAX));
  set('paused', bool(v, 'paused', `${path}.paused`));
  set('rate', rate(v, 'rate', `${path}.rate`));
  if (own(v, 'keyLimits') !== undefined) out.keyLimits = keyLimits(own(v, 'keyLimits'), `${path}.keyLimits`);
  if (own(v, 'keys') !== undefined) out.keys = keyOverrides(own(v, 'keys'), `${path}.keys`, limits);
  set('maxWaiting', nullableInt(v, 'maxWaiting', `${path}.maxWaiting`, 1, limits.tasksMax));
  if (own(v, 'sharedLimit') === null) out.sharedLimit = null;
  else if (own(v, 'sharedLimit') !== undefined) out.sharedLimit = name(v, 'sharedLimit', `${path}.sharedLimit`, limits);
  const overflow = own(v, 'overflow');
  if (overflow !== undefined && overflow !== 'refuse' && overflow !== 'dropOldest') {
    fail(`${path}.overflow`, "must be 'refuse' or 'dropOldest'");
  }
  if (overflow !== undefined) out.overflow = overflow;
  return out;
}

function ackItem(v: unknown, path: Under, limits: Limits): AckItem {
  if (!isObj(v)) fail(String(path), 'must be an ack item');
  const out: AckItem = { id: id(v, 'id', path), token: id(v, 'token', path) };
  const s = secret(v, path);
  if (s !== undefined) out.secret = s;
  const result = bytes(v, 'result', path, limits.resultBytesMax, true);
  if (result !== undefined) out.result = result;
  return out;
}

function list<T>(o: Obj, k: string, max: number, each: (v: unknown, path: Under) => T): T[] {
  const v = own(o, k);
  if (!Array.isArray(v) || v.length === 0 || v.length > max) fail(k, `must be a list of 1..${max} items`);
  // map, as before: a sparse list (in-process callers) keeps its holes.
  return v.map((x, i) => each(x, new Under(k, i)));
}

type Validator = (o: Obj, limits: Limits) => Command;

const VALIDATORS: Record<Exclude<Command['type'], FlowCommandType>, Validator> = {
  openSession: (o, l) => {
    const timeoutMs = int(o, 'timeoutMs', 'timeoutMs', 1000, l.sessionTimeoutMsMax, true);
    return timeoutMs === undefined ? { type: 'openSession' } : { type: 'openSession', timeoutMs };
  },
  keepAlive: () => ({ type: 'keepAlive' }),
  closeSession: () => ({ type: 'closeSession' }),
  advanceTime: () => ({ type: 'advanceTime' }),
  activateVersion: (o) => ({ type: 'activateVersion', version: int(o, 'version', 'version', 1, 1_000_000) }),
  createQueue: (o, l) => ({
    type: 'createQueue',
    queue: name(o, 'queue', 'queue', l),
    settings: settings(own(o, 'settings'), 'settings', l),
  }),
  configureQueue: (o, l) => ({
    type: 'configureQueue',
    queue: name(o, 'queue', 'queue', l),
    settings: settings(own(o, 'settings') ?? {}, 'settings', l),
  }),
  pauseQueue: (o, l) => ({ type: 'pauseQueue', queue: name(o, 'queue', 'queue', l) }),
  resumeQueue: (o, l) => ({ type: 'resumeQueue', queue: name(o, 'queue', 'queue', l) }),
  purgeQueue: (o, l) => ({ type: 'purgeQueue', queue: name(o, 'queue', 'queue', l) }),
  deleteQueue: (o, l) => ({
    type: 'deleteQueue',
    queue: name(o, 'queue', 'queue', l),
    force: bool(o, 'force', 'force') === true,
  }),
  enqueue: (o, l) => ({
    type: 'enqueue',
    queue: name(o, 'queue', 'queue', l),
    tasks: list(o, 'tasks', l.enqueueBatchMax, (v, p) => taskSpec(v, p, l)),
  }),
  lease: (o, l) => {
    const out: Command = {
      type: 'lease',
      queue: name(o, 'queue', 'queue', l),
      workerId: str(o, 'workerId', 'workerId', l.keyBytesMax),
      max: int(o, 'max', 'max', 1, l.leaseBatchMax),
      ...secretOf(o, 'secret'),
    };
    const leaseMs = int(o, 'leaseMs', 'leaseMs', 1, l.leaseMsMax, true);
    if (leaseMs !== undefined) out.leaseMs = leaseMs;
    return out;
  },
  extend: (o, l) => {
    const out: Command = {
      type: 'extend',
      id: id(o, 'id', 'id'),
      token: id(o, 'token', 'token'),
      ...secretOf(o, 'secret'),
    };
    const leaseMs = int(o, 'leaseMs', 'leaseMs', 1, l.leaseMsMax, true);
    if (leaseMs !== undefined) out.leaseMs = leaseMs;
    const progress = int(o, 'progress', 'progress', 0, Number.MAX_SAFE_INTEGER, true);
    if (progress !== undefined) out.progress = progress;
    const checkpoint = bytes(o, 'checkpoint', 'checkpoint', l.checkpointBytesMax, true);
    if (checkpoint !== undefined) out.checkpoint = checkpoint;
    return out;
  },
  ack: (o, l) => ({ type: 'ack', items: list(o, 'items', l.ackBatchMax, (v, p) => ackItem(v, p, l)) }),
  nack: (o, l) => {
    const out: Command = {
      type: 'nack',
      id: id(o, 'id', 'id'),
      token: id(o, 'token', 'token'),
      ...secretOf(o, 'secret'),
    };
    const error = str(o, 'error', 'error', l.errorBytesMax, true);
    if (error !== undefined) out.error = error;
    const delayMs = int(o, 'delayMs', 'delayMs', 0, l.delayMsMax, true);
    if (delayMs !== undefined) out.delayMs = delayMs;
    const dead = bool(o, 'dead', 'dead');
    if (dead !== undefined) out.dead = dead;
    if (dead === true && delayMs !== undefined) fail('delayMs', 'exclusive with dead');
    return out;
  },
  release: (o, l) => {
    const out: Command = {
      type: 'release',
      id: id(o, 'id', 'id'),
      token: id(o, 'token', 'token'),
      ...secretOf(o, 'secret'),
    };
    const holdMs = int(o, 'holdMs', 'holdMs', 1, l.delayMsMax, true);
    if (holdMs !== undefined) out.holdMs = holdMs;
    return out;
  },
  cancel: (o) => ({
    type: 'cancel',
    id: id(o, 'id', 'id'),
    ...(bool(o, 'running', 'running') === true ? { running: true } : {}),
  }),
  promote: (o) => ({ type: 'promote', id: id(o, 'id', 'id') }),
  update: (o, l) => {
    const out: Command = { type: 'update', id: id(o, 'id', 'id') };
    const priority = int(o, 'priority', 'priority', -PRIORITY_MAX, PRIORITY_MAX, true);
    if (priority !== undefined) out.priority = priority;
    const payload = bytes(o, 'payload', 'payload', l.payloadBytesMax, true);
    if (payload !== undefined) out.payload = payload;
    const runAt = int(o, 'runAt', 'runAt', 0, Number.MAX_SAFE_INTEGER, true);
    const delayMs = int(o, 'delayMs', 'delayMs', 0, l.delayMsMax, true);
    if (runAt !== undefined && delayMs !== undefined) fail('runAt', 'exclusive with delayMs');
    if (runAt !== undefined) out.runAt = runAt;
    if (delayMs !== undefined) out.delayMs = delayMs;
    return out;
  },
  redrive: (o, l) => {
    const out: Command = { type: 'redrive', queue: name(o, 'queue', 'queue', l) };
    if (own(o, 'ids') !== undefined)
      out.ids = list(o, 'ids', l.redriveMax, (v, p) =>
        parseId(v) === null ? fail(String(p), 'must be a decimal id string') : (v as string),
      );
    if (own(o, 'toQueue') !== undefined) out.toQueue = name(o, 'toQueue', 'toQueue', l);
    const max = int(o, 'max', 'max', 1, l.redriveMax, true);
    if (max !== undefined) out.max = max;
    return out;
  },
  ...scheduleValidators<Limits>({
    fail,
    own,
    name,
    int,
    bool,
    taskSpec: (v, p, l) => taskSpec(v, p, l) as unknown as Obj,
    headersMax: (l) => l.headersMax,
  }),
  ...tokenValidators({ fail, own }),
  ...sharedLimitValidators<Limits>({ fail, own, isObj, name, rate, nullableInt, costMax: COST_MAX }),
};

// Workflows and fan-out (validate-flows.ts), given this file's field checks (one-way imports).
const FLOW = flowValidators({ fail, own, isObj, name, str, id, taskSpec });

/** Validate any value as a command. Never throws. */
export function validateCommand(value: unknown, limits: Limits): Validated<Command> {
  try {
    if (!isObj(value)) fail('cmd', 'must be a command object');
    const type = own(value, 'type');
    const validator =
      typeof type !== 'string'
        ? undefined
        : Object.prototype.hasOwnProperty.call(VALIDATORS, type)
          ? VALIDATORS[type as keyof typeof VALIDATORS]
          : Object.prototype.hasOwnProperty.call(FLOW, type)
            ? FLOW[type as FlowCommandType]
            : undefined;
    if (validator === undefined) fail('type', 'unknown command type');
    return { ok: true, value: validator(value, limits) };
  } catch (e) {
    if (e instanceof Invalid) {
      return { ok: false, error: { code: 'INVALID_ARGUMENT', message: `${e.field} ${e.message}`, field: e.field } };
    }
    // Unexpected (a getter throwing on a hostile object, say): still a deterministic error answer.
    return { ok: false, error: { code: 'INVALID_ARGUMENT', message: 'malformed command', field: 'cmd' } };
  }
}

/** Convenience for the node: one per command type, same rules. */
export function isValidCommand(value: unknown, limits: Limits): value is Command {
  return validateCommand(value, limits).ok;
}

/**
 * Rules for a command about to be proposed, beyond what the state machine re-checks when it applies
 * an entry: tightening those would apply an old log differently. A queue that is its own dead-letter
 * queue is refused here (the state machine ignores the setting, as it always did).
 */
export function checkNewProposal(cmd: Command): Validated<Command> {
  if (cmd.type === 'configureQueue' && cmd.settings.deadLetterQueue === cmd.queue) {
    return {
      ok: false,
      error: {
        code: 'INVALID_ARGUMENT',
        message: `settings.deadLetterQueue: a queue cannot be its own dead-letter queue (${cmd.queue})`,
        field: 'settings.deadLetterQueue',
      },
    };
  }
  const cron = checkScheduleProposal(cmd);
  if (cron !== null) return { ok: false, error: cron };
  return { ok: true, value: cmd };
}
