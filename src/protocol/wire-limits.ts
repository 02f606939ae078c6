// The limits part of the client wire contract (issue 13, client.proto fields 300-349): a task's
// limit key, cost and dedup mode, the limit settings of a queue (rate, key limits and overrides,
// maxWaiting, overflow), the replaced / throttled flags of an enqueue answer, and the ListKeys read.
// wire.ts, wire-values.ts and wire-reads.ts call these hooks; this module imports none of them at
// run time (no import cycle).
import type { AsOf, KeyLimits, KeyPage, KeyUsage, QueueSettings, RateLimit, ReadQuery } from './commands.js';
import type { ErrorDetail } from './errors.js';

type Message = Record<string, unknown>;
type Decoded<T> = { ok: true; value: T } | { ok: false; error: ErrorDetail };

function obj(v: unknown): Message {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Message) : {};
}
function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}
function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
function optNum(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Copies the fields of `from` that are present into `into`. */
function pick(into: Message, from: Message, names: readonly string[]): Message {
  for (const n of names) if (present(from[n])) into[n] = from[n];
  return into;
}

const RATE_FIELDS = ['limit', 'intervalMs', 'burst'] as const;
const KEY_LIMIT_FIELDS = ['concurrency', 'weight', 'maxWaiting'] as const;
/** The KeyLimits fields an override may set to null (exempt from the queue's key default). */
export const NULLABLE_KEY_LIMITS = ['concurrency', 'rate', 'maxWaiting'] as const;

// ---- task specs (TaskSpec.key / cost / dedup) ----

/** Server: the limit fields of a TaskSpec message into the command's task spec. */
export function limitSpecFromWire(t: Message, out: Message): void {
  pick(out, t, ['key', 'cost', 'id']);
  if (present(t['dedup'])) out['dedup'] = pick({}, obj(t['dedup']), ['key', 'mode', 'windowMs']);
  if (present(t['backoff']))
    out['backoff'] = pick({}, obj(t['backoff']), ['type', 'delayMs', 'maxDelayMs', 'jitterPct']);
}

// ---- settings (QueueSettings.rate / keyLimits / keys / unsetKeys / maxWaiting / overflow) ----

function rateFromWire(v: unknown): RateLimit {
  return pick({}, obj(v), RATE_FIELDS) as unknown as RateLimit;
}

function keyLimitsToWire(k: KeyLimits): Message {
  const out: Message = {};
  const unset: string[] = [];
  for (const [name, v] of Object.entries(k)) {
    if (v === null) unset.push(name);
    else if (v !== undefined) out[name] = v;
  }
  if (unset.length > 0) out['unset'] = unset;
  return out;
}

function keyLimitsFromWire(v: unknown, path: string): Decoded<KeyLimits> {
  const o = obj(v);
  const out = pick({}, o, KEY_LIMIT_FIELDS);
  if (present(o['rate'])) out['rate'] = rateFromWire(o['rate']);
  const unset = Array.isArray(o['unset']) ? (o['unset'] as unknown[]) : [];
  for (const name of unset) {
    if (typeof name !== 'string' || !(NULLABLE_KEY_LIMITS as readonly string[]).includes(name))
      return invalid(`${path}.unset`, `must name one of ${NULLABLE_KEY_LIMITS.join(', ')}`);
    out[name] = null;
  }
  return { ok: true, value: out as KeyLimits };
}

/**
 * SDK and reply side: the limit settings of a settings object (a patch or whole settings) reshaped
 * for QueueSettings, in place: key limits' nulls become `unset`, a `keys` entry of null (drop the
 * override) goes to `unsetKeys`.
 */
export function limitSettingsToWire(out: Message): void {
  if (present(out['keyLimits'])) out['keyLimits'] = keyLimitsToWire(out['keyLimits'] as KeyLimits);
  if (!present(out['keys'])) return;
  const keys: Message = {};
  const unsetKeys: string[] = [];
  for (const [k, v] of Object.entries(obj(out['keys']))) {
    if (v === null) unsetKeys.push(k);
    else keys[k] = keyLimitsToWire(v as KeyLimits);
  }
  out['keys'] = keys;
  if (unsetKeys.length > 0) out['unsetKeys'] = unsetKeys;
}

/** Server: the limit settings of a QueueSettings patch message (nulls back from `unset` lists). */
export function limitSettingsFromWire(s: Message, out: Message): Decoded<Message> {
  pick(out, s, ['maxWaiting', 'overflow']);
  if (present(s['rate'])) out['rate'] = rateFromWire(s['rate']);
  if (present(s['keyLimits'])) {
    const d = keyLimitsFromWire(s['keyLimits'], 'settings.keyLimits');
    if (!d.ok) return d;
    out['keyLimits'] = d.value;
  }
  const keys: Record<string, KeyLimits | null> = {};
  for (const [k, v] of Object.entries(obj(s['keys']))) {
    const d = keyLimitsFromWire(v, `settings.keys.${k}`);
    if (!d.ok) return d;
    keys[k] = d.value;
  }
  const unsetKeys = Array.isArray(s['unsetKeys']) ? (s['unsetKeys'] as unknown[]) : [];
  for (const k of unsetKeys) if (typeof k === 'string') keys[k] = null;
  if (Object.keys(keys).length > 0) out['keys'] = keys;
  return { ok: true, value: out };
}

/** SDK: the limit settings of a QueueSettings reply into `out` (only those present). */
export function limitSettingsFromReply(o: Message, out: QueueSettings): void {
  if (typeof o['sharedLimit'] === 'string' && o['sharedLimit'] !== '') out.sharedLimit = o['sharedLimit'];
  if (present(o['rate'])) out.rate = rateFromWire(o['rate']);
  if (present(o['keyLimits'])) {
    const d = keyLimitsFromWire(o['keyLimits'], 'keyLimits');
    if (d.ok) out.keyLimits = d.value;
  }
  const keys: Record<string, KeyLimits> = {};
  for (const [k, v] of Object.entries(obj(o['keys']))) {
    const d = keyLimitsFromWire(v, k);
    if (d.ok) keys[k] = d.value;
  }
  if (Object.keys(keys).length > 0) out.keys = keys;
  if (typeof o['maxWaiting'] === 'number') out.maxWaiting = o['maxWaiting'];
  if (o['overflow'] === 'refuse' || o['overflow'] === 'dropOldest') out.overflow = o['overflow'];
}

/** Server: a QueueStats value with its settings' limit fields reshaped for the wire. */
export function statsToWire(stats: unknown): unknown {
  const s = obj(stats);
  if (!present(s['settings'])) return stats;
  const settings = { ...obj(s['settings']) };
  limitSettingsToWire(settings);
  return { ...s, settings };
}

// ---- answers ----

/** The debounce / throttle flags of an enqueue item answer, set only when true. */
export function dedupFlagsFromWire(o: Message, out: { replaced?: boolean; throttled?: boolean }): void {
  if (o['replaced'] === true) out.replaced = true;
  if (o['throttled'] === true) out.throttled = true;
}

/** A LeasedTask or Task message's limit key and cost (cost only when not the default 1), a Task's custom id. */
export function keyCostFromWire(o: Message, out: { key?: string; cost?: number; customId?: string }): void {
  if (typeof o['key'] === 'string') out.key = o['key'];
  if (typeof o['cost'] === 'number' && o['cost'] !== 1) out.cost = o['cost'];
  if (typeof o['customId'] === 'string') out.customId = o['customId'];
}

// ---- the ListKeys read ----

const NAME = /^[A-Za-z0-9._:/-]{1,128}$/;
const CURSOR_MAX = 1024;
const LIMIT_MAX = 1000;

function invalid(field: string, message: string): { ok: false; error: ErrorDetail } {
  return { ok: false, error: { code: 'INVALID_ARGUMENT', message: `${field} ${message}`, field } };
}

function asOfFromWire(v: unknown): AsOf {
  const o = obj(v);
  return { index: num(o['index']), mono: num(o['mono']), wall: num(o['wall']) };
}

function keyUsageFromWire(v: unknown): KeyUsage {
  const o = obj(v);
  return {
    key: typeof o['key'] === 'string' ? o['key'] : '',
    leased: num(o['leased']),
    inUse: num(o['inUse']),
    waiting: num(o['waiting']),
    weight: num(o['weight']) || 1,
    concurrency: optNum(o['concurrency']),
    tokens: optNum(o['tokens']),
    heldUntilMono: optNum(o['heldUntilMono']),
  };
}

export const LIST_KEYS_WIRE = {
  request: {
    encode: (q: ReadQuery): Message => {
      if (q.type !== 'keys') return { ...q };
      return pick({ queue: q.queue }, q as unknown as Message, ['cursor', 'limit']);
    },
    decode: (r: Message): Decoded<ReadQuery> => {
      const queue = r['queue'];
      if (typeof queue !== 'string' || !NAME.test(queue))
        return invalid('queue', 'must be a queue name of 1..128 characters [A-Za-z0-9._:/-]');
      const out: ReadQuery = { type: 'keys', queue };
      const cursor = r['cursor'];
      if (present(cursor)) {
        if (typeof cursor !== 'string' || cursor.length > CURSOR_MAX)
          return invalid('cursor', `must be at most ${CURSOR_MAX} characters`);
        out.cursor = cursor;
      }
      const limit = r['limit'];
      if (present(limit)) {
        if (typeof limit !== 'number' || limit < 1 || limit > LIMIT_MAX)
          return invalid('limit', `must be in [1, ${LIMIT_MAX}]`);
        out.limit = limit;
      }
      return { ok: true, value: out };
    },
  },
  reply: {
    encode: (value: unknown, asOf: AsOf): Message => {
      const v = obj(value);
      // Absent, not null, for KeyUsage's optional fields.
      const items = (Array.isArray(v['items']) ? v['items'] : []).map((k) =>
        Object.fromEntries(Object.entries(obj(k)).filter(([, x]) => x !== null)),
      );
      const out: Message = { asOf, items };
      if (typeof v['nextCursor'] === 'string') out['nextCursor'] = v['nextCursor'];
      return out;
    },
    decode: (m: Message): KeyPage & { asOf: AsOf } => ({
      items: (Array.isArray(m['items']) ? m['items'] : []).map(keyUsageFromWire),
      nextCursor: typeof m['nextCursor'] === 'string' ? m['nextCursor'] : null,
      asOf: asOfFromWire(m['asOf']),
    }),
  },
};
