// Strict names for the limit options of issue 13 (enqueue key / cost / dedup; queue settings rate,
// keyLimits, keys, maxWaiting, overflow), checked at every level before anything is sent: a typo
// such as `keyLimits: { concurency: 2 }` is refused naming the field, never silently ignored. Values
// are checked by validateCommand (the broker's own validation). Imports nothing from options.ts.

type Obj = Record<string, unknown>;
type CheckKeys = (o: Obj, known: readonly string[], path: string, what: string) => void;

export const LIMIT_ENQUEUE_OPTION_KEYS = ['key', 'cost', 'dedup', 'id', 'backoff'] as const;
export const TASK_BACKOFF_KEYS = ['type', 'delayMs', 'maxDelayMs', 'jitterPct'] as const;
export const LIMIT_SETTING_KEYS = ['rate', 'keyLimits', 'keys', 'maxWaiting', 'overflow', 'sharedLimit'] as const;
export const RATE_KEYS = ['limit', 'intervalMs', 'burst'] as const;
export const KEY_LIMIT_KEYS = ['concurrency', 'rate', 'weight', 'maxWaiting'] as const;
export const DEDUP_KEYS = ['key', 'mode', 'windowMs'] as const;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** Enqueue options: `dedup` holds only { key, mode, windowMs }, `backoff` only backoff fields. */
export function checkLimitOptions(options: Obj, path: string, checkKeys: CheckKeys): void {
  const dedup = options['dedup'];
  if (isObj(dedup)) checkKeys(dedup, DEDUP_KEYS, `${path}.dedup`, 'dedup option');
  const backoff = options['backoff'];
  if (isObj(backoff)) checkKeys(backoff, TASK_BACKOFF_KEYS, `${path}.backoff`, 'backoff option');
}

function checkKeyLimits(v: unknown, path: string, checkKeys: CheckKeys): void {
  if (!isObj(v)) return;
  checkKeys(v, KEY_LIMIT_KEYS, path, 'key limit');
  if (isObj(v['rate'])) checkKeys(v['rate'], RATE_KEYS, `${path}.rate`, 'rate setting');
}

/** Queue settings: rate / keyLimits / keys use known names at every level. */
export function checkLimitSettings(settings: Obj, checkKeys: CheckKeys): void {
  if (isObj(settings['rate'])) checkKeys(settings['rate'], RATE_KEYS, 'settings.rate', 'rate setting');
  checkKeyLimits(settings['keyLimits'], 'settings.keyLimits', checkKeys);
  const keys = settings['keys'];
  if (isObj(keys)) for (const [k, v] of Object.entries(keys)) checkKeyLimits(v, `settings.keys.${k}`, checkKeys);
}
