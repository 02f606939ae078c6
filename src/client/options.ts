// Strict checks of what a caller hands the SDK, before anything is sent: a typo'd option or setting
// is refused with INVALID_ARGUMENT naming it (and the closest known name) instead of being ignored,
// and a wrong shape is an InvalidArgumentError naming the option, never a TypeError from deep
// inside or a worker that fails every task.
import { DEFAULT_QUEUE_SETTINGS } from '../protocol/limits.js';
import { raftqError } from './errors.js';
import {
  checkLimitOptions,
  checkLimitSettings,
  LIMIT_ENQUEUE_OPTION_KEYS,
  LIMIT_SETTING_KEYS,
} from './limit-options.js';

function invalid(field: string, message: string): never {
  throw raftqError('INVALID_ARGUMENT', `${field}: ${message}`, { field });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** Edit distance (insertions, deletions, substitutions, transpositions of neighbours). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = v;
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** The known name closest to `key`, if it is close enough to be a likely typo. */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = distance(key.toLowerCase(), k.toLowerCase());
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** `unknown setting "x" (did you mean "y"?)`, for the SDK, the CLI and the node config alike. */
export function unknownKeyMessage(what: string, key: string, known: readonly string[]): string {
  const near = closest(key, known);
  return `unknown ${what} ${JSON.stringify(key)}${near === undefined ? '' : ` (did you mean ${JSON.stringify(near)}?)`}`;
}

/** Throws if `o` has a key outside `known`. */
export function checkKeys(o: Record<string, unknown>, known: readonly string[], path: string, what: string): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) invalid(path === '' ? k : `${path}.${k}`, unknownKeyMessage(what, k, known));
  }
}

export const ENQUEUE_OPTION_KEYS = [
  'priority',
  'delayMs',
  'runAt',
  'maxAttempts',
  'maxDeliveries',
  'leaseMs',
  'ttlMs',
  'idempotencyKey',
  'group',
  'headers',
  ...LIMIT_ENQUEUE_OPTION_KEYS,
  'dependsOn',
] as const;

export const QUEUE_SETTING_KEYS: readonly string[] = [...Object.keys(DEFAULT_QUEUE_SETTINGS), ...LIMIT_SETTING_KEYS];
export const BACKOFF_KEYS: readonly string[] = Object.keys(DEFAULT_QUEUE_SETTINGS.backoff);

/** The servers option trimmed, each one host:port; at least one. */
export function serverList(given: readonly string[]): string[] {
  const servers = given.map((s) => s.trim()).filter((s) => s.length > 0);
  if (servers.length === 0) invalid('servers', 'at least one address');
  for (const s of servers) {
    if (!/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/.test(s) || Number(s.slice(s.lastIndexOf(':') + 1)) > 65535) {
      invalid('servers', `${JSON.stringify(s)} is not host:port`);
    }
  }
  return servers;
}

/** `new Client(options)`: an object whose `servers` is a non-empty list of strings. */
export function checkClientOptions(options: unknown): void {
  if (!isPlainObject(options)) invalid('options', 'must be an object such as { servers: ["127.0.0.1:7001"] }');
  const servers = options['servers'];
  if (typeof servers === 'string') invalid('servers', `must be a list of host:port, e.g. [${JSON.stringify(servers)}]`);
  if (!Array.isArray(servers) || servers.length === 0) invalid('servers', 'must be a non-empty list of host:port');
  servers.forEach((s, i) => {
    if (typeof s !== 'string') invalid(`servers[${i}]`, 'must be a host:port string');
  });
  const token = options['token'];
  if (token !== undefined && (typeof token !== 'string' || !/^[\x21-\x7e]{1,1024}$/.test(token)))
    invalid('token', 'must be a non-empty string of printable ASCII without spaces');
  checkTls(options['tls']);
  const network = options['network'];
  if (network !== undefined && (typeof network !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(network)))
    invalid('network', 'must be a network name as given to --advertise NAME=host:port (letters, digits, _ . -)');
}

/** `tls`: PEM strings or bytes for ca / cert / key (cert and key together), a serverName string. */
function checkTls(tls: unknown): void {
  if (tls === undefined) return;
  if (!isPlainObject(tls)) invalid('tls', 'must be an object { ca, cert, key, serverName }');
  checkKeys(tls, ['ca', 'cert', 'key', 'serverName'], 'tls', 'TLS option');
  for (const k of ['ca', 'cert', 'key'] as const) {
    const v = tls[k];
    if (v !== undefined && typeof v !== 'string' && !(v instanceof Uint8Array))
      invalid(`tls.${k}`, 'must be PEM text or bytes (read the file yourself: readFileSync(path))');
  }
  if ((tls['cert'] === undefined) !== (tls['key'] === undefined))
    invalid(tls['cert'] === undefined ? 'tls.cert' : 'tls.key', 'a client certificate needs both cert and key');
  if (tls['serverName'] !== undefined && (typeof tls['serverName'] !== 'string' || tls['serverName'] === ''))
    invalid('tls.serverName', 'must be a non-empty string');
}

function checkHeaders(h: unknown, path: string): void {
  if (h === undefined) return;
  if (!isPlainObject(h)) invalid(path, 'must be an object of string values');
  for (const [k, v] of Object.entries(h)) {
    if (k === '') invalid(`${path}[""]`, 'a header name must not be empty');
    if (typeof v !== 'string') invalid(`${path}.${k}`, 'must be a string');
  }
}

/** Enqueue options: known keys only, headers a map of non-empty names to strings. */
export function checkEnqueueOptions(options: unknown, path = 'options'): void {
  if (options === undefined) return;
  if (!isPlainObject(options)) invalid(path, 'must be an object of enqueue options');
  checkKeys(options, ENQUEUE_OPTION_KEYS, path, 'enqueue option');
  checkHeaders(options['headers'], `${path}.headers`);
  checkLimitOptions(options, path, checkKeys);
}

/** enqueueMany: a list of `{ payload, ...options }`. */
export function checkEnqueueItems(items: unknown): void {
  if (!Array.isArray(items)) invalid('items', 'must be a list of { payload, ...options }');
  items.forEach((item, i) => {
    const path = `items[${i}]`;
    if (!isPlainObject(item) || !('payload' in item)) invalid(path, 'must be an object { payload, ...options }');
    const { payload: _p, ...options } = item;
    checkEnqueueOptions(options, path);
  });
}

/** Queue settings: known keys (and backoff keys) only; a queue is not its own dead-letter queue. */
export function checkQueueSettings(queue: string, settings: unknown): void {
  if (settings === undefined) return;
  if (!isPlainObject(settings)) invalid('settings', 'must be an object of queue settings');
  checkKeys(settings, QUEUE_SETTING_KEYS, 'settings', 'queue setting');
  const backoff = settings['backoff'];
  if (isPlainObject(backoff)) checkKeys(backoff, BACKOFF_KEYS, 'settings.backoff', 'backoff setting');
  checkLimitSettings(settings, checkKeys);
  if (settings['deadLetterQueue'] === queue) {
    invalid('settings.deadLetterQueue', `a queue cannot be its own dead-letter queue (${queue})`);
  }
}

/** client.worker(queue, handler): the handler must be a function. */
export function checkHandler(handler: unknown): void {
  if (typeof handler !== 'function')
    invalid('handler', `must be a function (task, ctx) => result, not ${typeof handler}`);
}

/** Names what msgpack could not carry: a cycle, a Symbol, a function next to them (after a failed encode). */
export function checkPayload(value: unknown, path = 'payload'): void {
  const seen = new Set<object>();
  const walk = (v: unknown, at: string): void => {
    if (typeof v === 'symbol') invalid(at, 'a Symbol cannot be sent');
    if (typeof v === 'function') invalid(at, 'a function cannot be sent');
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) return;
    if (seen.has(v)) invalid(at, 'is circular (refers to itself)');
    seen.add(v);
    if (v instanceof Map) for (const [k, x] of v) walk(x, `${at}.${String(k)}`);
    else if (v instanceof Set) for (const x of v) walk(x, `${at}[]`);
    else for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], `${at}.${k}`);
    seen.delete(v);
  };
  walk(value, path);
}

/** The addressMap option, checked and copied. */
export function checkAddressMap(map: unknown): Record<string, string> {
  if (map === undefined) return {};
  if (typeof map !== 'object' || map === null || Array.isArray(map))
    throw raftqError('INVALID_ARGUMENT', 'addressMap: must be an object { advertised: reachable }', {
      field: 'addressMap',
    });
  for (const [k, v] of Object.entries(map)) {
    if (typeof v !== 'string' || v === '')
      throw raftqError('INVALID_ARGUMENT', `addressMap.${k}: must be a host:port string`, { field: `addressMap.${k}` });
  }
  return { ...(map as Record<string, string>) };
}

/** A positive number option, or its default. */
export function positive(v: number | undefined, dflt: number, field: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !(v > 0))
    throw raftqError('INVALID_ARGUMENT', `${field}: must be a positive number`, { field });
  return v;
}
