// The shared-limit part of the client wire contract (client.proto fields and messages 450-499): the
// SetSharedLimit / DeleteSharedLimit commands, spread into COMMAND_WIRE (wire.ts; Submit does not
// carry them), and the ListSharedLimits read, spread into READ_WIRE (wire-reads.ts). This module
// imports no wire module at run time (no import cycle).
import type { AsOf, RateLimit } from './commands.js';
import type { ErrorDetail } from './errors.js';
import type { SharedKeyLimits, SharedLimitSpec, SharedLimitView } from './shared-limits.js';

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
function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function ok<T>(value: T): Decoded<T> {
  return { ok: true, value };
}

/** What the shared-limit commands answer (beside the entry's index). */
export interface SharedLimitAnswers {
  setSharedLimit: { created: boolean };
  deleteSharedLimit: object;
}

export type SharedLimitReadMethod = 'ListSharedLimits';

export interface SharedLimitReadReplies {
  ListSharedLimits: { limits: SharedLimitView[] };
}

function rateFromWire(v: unknown): RateLimit {
  const o = obj(v);
  const r: RateLimit = { limit: num(o['limit']), intervalMs: num(o['intervalMs']) };
  if (present(o['burst'])) r.burst = num(o['burst']);
  return r;
}

/** A spec's limits from a SharedLimit message (absent: no limit); lenient, the validator checks. */
function specFromWire(o: Message): SharedLimitSpec {
  const out: SharedLimitSpec = {};
  if (present(o['concurrency'])) out.concurrency = o['concurrency'] as number;
  if (present(o['rate'])) out.rate = rateFromWire(o['rate']);
  if (present(o['keyLimits'])) {
    const k = obj(o['keyLimits']);
    const kl: SharedKeyLimits = {};
    if (present(k['concurrency'])) kl.concurrency = k['concurrency'] as number;
    if (present(k['rate'])) kl.rate = rateFromWire(k['rate']);
    out.keyLimits = kl;
  }
  return out;
}

function specToWire(s: SharedLimitSpec): Message {
  const out: Message = {};
  if (present(s.concurrency)) out['concurrency'] = s.concurrency;
  if (present(s.rate)) out['rate'] = s.rate;
  if (s.keyLimits !== undefined) {
    const k: Message = {};
    if (present(s.keyLimits.concurrency)) k['concurrency'] = s.keyLimits.concurrency;
    if (present(s.keyLimits.rate)) k['rate'] = s.keyLimits.rate;
    out['keyLimits'] = k;
  }
  return out;
}

const done = {
  fromMachine: (_cmd: unknown, _value: unknown, meta: { index: number }) => ({ index: meta.index }),
  encode: (a: { index: number }): Message => ({ index: a.index }),
  decode: (m: Message) => ({ index: num(m['index']) }),
};

export const SHARED_LIMIT_COMMAND_WIRE = {
  setSharedLimit: {
    method: 'SetSharedLimit',
    field: null,
    request: {
      encode: (cmd: { name: string } & SharedLimitSpec): Message => ({ name: cmd.name, limit: specToWire(cmd) }),
      decode: (r: Message): Decoded<Message> =>
        ok({ type: 'setSharedLimit', name: r['name'], ...specFromWire(obj(r['limit'])) }),
    },
    reply: {
      fromMachine: (_cmd: unknown, value: unknown, meta: { index: number }) => ({
        created: obj(value)['created'] === true,
        index: meta.index,
      }),
      encode: (a: { created: boolean; index: number }): Message => ({ created: a.created, index: a.index }),
      decode: (m: Message) => ({ created: m['created'] === true, index: num(m['index']) }),
    },
  },
  deleteSharedLimit: {
    method: 'DeleteSharedLimit',
    field: null,
    request: {
      encode: (cmd: { name: string }): Message => ({ name: cmd.name }),
      decode: (r: Message): Decoded<Message> => ok({ type: 'deleteSharedLimit', name: r['name'] }),
    },
    reply: done,
  },
} as const;

/** Lenient and total, as every SDK-side decoder. */
export function sharedLimitFromWire(v: unknown): SharedLimitView {
  const o = obj(v);
  const tokens = o['tokens'];
  return {
    name: str(o['name']),
    ...specFromWire(obj(o['limit'])),
    queues: Array.isArray(o['queues']) ? o['queues'].map(str) : [],
    leased: num(o['leased']),
    inUse: num(o['inUse']),
    tokens: typeof tokens === 'number' && Number.isFinite(tokens) ? tokens : null,
    keys: num(o['keys']),
  };
}

function sharedLimitToWire(v: SharedLimitView): Message {
  const out: Message = {
    name: v.name,
    limit: specToWire(v),
    queues: v.queues,
    leased: v.leased,
    inUse: v.inUse,
    keys: v.keys,
  };
  if (v.tokens !== null) out['tokens'] = v.tokens;
  return out;
}

function asOfFromWire(v: unknown): AsOf {
  const o = obj(v);
  return { index: num(o['index']), mono: num(o['mono']), wall: num(o['wall']) };
}

export const SHARED_LIMIT_READ_WIRE = {
  ListSharedLimits: {
    request: {
      encode: (): Message => ({}),
      decode: (): Decoded<{ type: 'sharedLimits' }> => ok({ type: 'sharedLimits' }),
    },
    reply: {
      encode: (value: unknown, asOf: AsOf): Message => ({
        asOf,
        limits: (Array.isArray(value) ? (value as SharedLimitView[]) : []).map(sharedLimitToWire),
      }),
      decode: (m: Message) => ({
        limits: (Array.isArray(m['limits']) ? (m['limits'] as unknown[]) : []).map(sharedLimitFromWire),
        asOf: asOfFromWire(m['asOf']),
      }),
    },
  },
} as const;
