// Client authentication and authorisation (docs/security.md). A client presents a bearer token in the
// gRPC metadata (`authorization: Bearer <id>.<secret>`); the node config holds, per token id, only an
// scrypt hash of the token and its grants (a role over a queue-name pattern). Every client RPC needs a
// role: UNAUTHENTICATED when the token is missing or wrong, PERMISSION_DENIED when its grants do not
// cover the call; both are counted per token id (never the token) and the request is not applied.
// No tokens configured: auth is off and every call is allowed (local development).
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { ErrorDetail } from '../protocol/errors.js';

import { ROLES, type Grant, type Role, type TokenRecord } from '../protocol/tokens.js';

export { ROLES, type Grant, type Role };

export interface TokenSpec {
  id: string;
  /** `scrypt$N$r$p$salt$key` (base64url), from `raftq tokens hash`. */
  hash: string;
  grants: Grant[];
}

/** Who made a call: a token id and its grants, or everyone when auth is off. */
export interface Principal {
  id: string;
  grants: readonly Grant[];
}

/** What a method needs: one of the roles, over the request's `queue` field when it has one. */
interface Need {
  roles: readonly Role[];
  /** Any authenticated token may call it (sessions, Status). */
  anyone?: boolean;
}

const ANY: Need = { roles: [], anyone: true };
const need = (...roles: Role[]): Need => ({ roles });

/**
 * Every client method and what it needs; an admin may also read. Commands by task id (ack, nack, extend, release, cancel,
 * promote, update, GetTask, WaitFor) carry no queue, so only the role is checked for them.
 */
export const METHOD_NEEDS: Readonly<Record<string, Need>> = {
  OpenSession: ANY,
  KeepAlive: ANY,
  CloseSession: ANY,
  Status: ANY,
  Submit: ANY, // authenticated here; each item is authorised as its own method
  SubmitStream: ANY, // each request on it is admitted as a Submit (submit-stream.ts)
  Enqueue: need('producer'),
  Lease: need('worker'),
  Extend: need('worker'),
  Ack: need('worker'),
  Nack: need('worker'),
  Release: need('worker'),
  Cancel: need('admin'),
  Promote: need('admin'),
  Update: need('admin'),
  CreateQueue: need('admin'),
  ConfigureQueue: need('admin'),
  PauseQueue: need('admin'),
  ResumeQueue: need('admin'),
  PurgeQueue: need('admin'),
  DeleteQueue: need('admin'),
  Redrive: need('admin'),
  GetTask: need('reader', 'admin'),
  ListTasks: need('reader', 'admin'),
  ListDeadLetters: need('reader', 'admin'),
  QueueStats: need('reader', 'admin'),
  ListQueues: need('reader', 'admin'),
  Events: need('reader', 'admin'),
  WaitFor: need('reader', 'producer', 'admin'),
  ListKeys: need('reader', 'admin'),
  UpsertSchedule: need('admin'),
  DeleteSchedule: need('admin'),
  PauseSchedule: need('admin'),
  ResumeSchedule: need('admin'),
  TriggerSchedule: need('admin'),
  GetSchedule: need('reader', 'admin'),
  ListSchedules: need('reader', 'admin'),
  // Workflows and fan-out (docs/workflows.md). A flow and a publish name queues inside the request
  // (no top-level queue), so only the role is checked; a binding names its queue.
  Flow: need('producer'),
  CancelFlow: need('admin'),
  BindTopic: need('admin'),
  UnbindTopic: need('admin'),
  Publish: need('producer'),
  // Shared limits name no queue: only the role is checked.
  SetSharedLimit: need('admin'),
  DeleteSharedLimit: need('admin'),
  ListSharedLimits: need('reader', 'admin'),
};

export const SCRYPT = { N: 16384, r: 8, p: 1, keyBytes: 32, saltBytes: 16 } as const;
const VERIFIED_CACHE_MAX = 1024;

/** Everyone, when auth is off. */
export const OPEN: Principal = { id: '', grants: ROLES.map((role) => ({ role, queues: '*' })) };

/** The replicated tokens as this node applied them (src/statemachine/tokens.ts); `live`: not revoked. */
export type ReplicatedTokens = () => { tokens: ReadonlyMap<string, TokenRecord>; live: number };

export class ClientAuth {
  private readonly tokens: ReadonlyMap<string, TokenSpec>;
  /**
   * sha256 of tokens already proven, to the hash they were proven against: one slow hash per token per
   * process, and a rotated or revoked token is checked against its new state at once.
   */
  private readonly verified = new Map<string, string>();
  private readonly failures = new Map<string, { unauthenticated: number; permissionDenied: number }>();

  /**
   * `tokens`: from the node config. `replicated`: the tokens added through the log (`raftq tokens add`),
   * which take precedence over a config token of the same id; a revoked id is refused whichever defined it.
   */
  constructor(
    tokens: readonly TokenSpec[] = [],
    private readonly replicated: ReplicatedTokens | null = null,
  ) {
    this.tokens = new Map(tokens.map((t) => [t.id, t]));
  }

  /**
   * On when any token is defined (config or log): a token added at run time turns auth on at its
   * index. A revoked one keeps it on: revoking the last token locks the port, it never opens it.
   */
  get enabled(): boolean {
    return this.tokens.size > 0 || (this.replicated?.().tokens.size ?? 0) > 0;
  }

  /** The token of this id in force on this node (replicated first), or undefined (unknown or revoked). */
  private specOf(id: string): TokenSpec | undefined {
    const r = this.replicated?.().tokens.get(id);
    if (r !== undefined) return r.revoked ? undefined : { id, hash: r.hash, grants: r.grants };
    return this.tokens.get(id);
  }

  /** The caller of `method` with this metadata and request, or the refusal (counted). */
  async admit(method: string, authorization: unknown, request: unknown): Promise<Principal | ErrorDetail> {
    if (!this.enabled) return OPEN;
    const who = await this.authenticate(authorization);
    if ('code' in who) return who;
    return this.authorize(who, method, request) ?? who;
  }

  /**
   * The admin HTTP port: null when auth is off or the token (Bearer, or the password of HTTP Basic so a
   * browser can log in to the console) holds one of `roles` over any pattern; else the refusal (counted).
   */
  async checkHttp(authorization: string | undefined, roles: readonly Role[]): Promise<ErrorDetail | null> {
    if (!this.enabled) return null;
    const basic = /^Basic ([A-Za-z0-9+/=]{1,2048})$/i.exec(authorization?.trim() ?? '');
    const decoded = basic ? Buffer.from(basic[1] as string, 'base64').toString('utf8') : '';
    const who = await this.authenticate(basic ? `Bearer ${decoded.slice(decoded.indexOf(':') + 1)}` : authorization);
    if ('code' in who) return who;
    if (who.grants.some((g) => roles.includes(g.role))) return null;
    this.count(who.id, 'permissionDenied');
    return { code: 'PERMISSION_DENIED', message: `token ${who.id} has no ${roles.join(' or ')} grant` };
  }

  /** Null when `who` may call `method` with `request`; else PERMISSION_DENIED (counted). */
  authorize(who: Principal, method: string, request: unknown): ErrorDetail | null {
    if (!this.enabled) return null;
    const n = METHOD_NEEDS[method];
    if (n?.anyone === true) return null;
    const queue = queueOf(request);
    const ok =
      n !== undefined &&
      who.grants.some((g) => n.roles.includes(g.role) && (queue === null || matches(g.queues, queue)));
    if (ok) return null;
    this.count(who.id, 'permissionDenied');
    const roles = n?.roles.join(' or ') ?? 'a role';
    return {
      code: 'PERMISSION_DENIED',
      message: `token ${who.id} has no ${roles} grant${queue === null ? '' : ` on queue ${queue}`} for ${method}`,
    };
  }

  /**
   * Whether admitting this authorization would cost a slow hash: a configured token id whose token
   * this process has not proven yet (a wrong token for a known id costs one scrypt every time).
   */
  needsSlowCheck(authorization: unknown): boolean {
    if (!this.enabled) return false;
    const token = bearer(authorization);
    if (token === null) return false;
    const dot = token.lastIndexOf('.');
    const spec = dot > 0 ? this.specOf(token.slice(0, dot)) : undefined;
    if (spec === undefined) return false;
    return this.verified.get(createHash('sha256').update(token).digest('base64url')) !== spec.hash;
  }

  /** Refusals per token id ('' for calls without a usable token id). */
  failureCounts(): Record<string, { unauthenticated: number; permissionDenied: number }> {
    const out: Record<string, { unauthenticated: number; permissionDenied: number }> = {};
    for (const [id, c] of this.failures) out[id] = { ...c };
    return out;
  }

  private async authenticate(authorization: unknown): Promise<Principal | ErrorDetail> {
    const token = bearer(authorization);
    if (token === null) return this.unauthenticated('', 'no bearer token in the authorization metadata');
    const dot = token.lastIndexOf('.');
    const spec = dot > 0 ? this.specOf(token.slice(0, dot)) : undefined;
    if (spec === undefined) return this.unauthenticated('', 'unknown or revoked token');
    const digest = createHash('sha256').update(token).digest('base64url');
    if (this.verified.get(digest) !== spec.hash) {
      if (!(await verifyTokenHash(token, spec.hash))) return this.unauthenticated(spec.id, 'wrong token');
      // Revoked or rotated while the slow hash ran: the table as it is now decides.
      if (this.specOf(spec.id)?.hash !== spec.hash) return this.unauthenticated(spec.id, 'unknown or revoked token');
      if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.clear();
      this.verified.set(digest, spec.hash);
    }
    return { id: spec.id, grants: spec.grants };
  }

  private unauthenticated(id: string, why: string): ErrorDetail {
    this.count(id, 'unauthenticated');
    return { code: 'UNAUTHENTICATED', message: why };
  }

  private count(id: string, what: 'unauthenticated' | 'permissionDenied'): void {
    // Bounded: unknown ids all count under ''; known ids are the configured ones.
    let c = this.failures.get(id);
    if (c === undefined) this.failures.set(id, (c = { unauthenticated: 0, permissionDenied: 0 }));
    c[what] += 1;
  }
}

/** The token of `authorization: Bearer <token>` (the metadata value, or the first of several). */
function bearer(v: unknown): string | null {
  const s = Array.isArray(v) ? v[0] : v;
  if (typeof s !== 'string') return null;
  const m = /^Bearer ([\x21-\x7e]{1,1024})$/i.exec(s.trim());
  return m ? (m[1] as string) : null;
}

function queueOf(request: unknown): string | null {
  if (typeof request !== 'object' || request === null) return null;
  const q = (request as Record<string, unknown>)['queue'];
  return typeof q === 'string' && q !== '' ? q : null;
}

/** Whether a queue-name pattern (`*` = any run of characters) matches the whole name. */
export function matches(pattern: string, name: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === name;
  const first = parts[0] as string;
  const last = parts[parts.length - 1] as string;
  if (!name.startsWith(first) || name.length < first.length + last.length || !name.endsWith(last)) return false;
  let at = first.length;
  const end = name.length - last.length;
  for (const part of parts.slice(1, -1)) {
    const i = name.indexOf(part, at);
    if (i < 0 || i + part.length > end) return false;
    at = i + part.length;
  }
  return true;
}

/** A new token for `id`: `<id>.<32 random bytes, base64url>`. */
export function newToken(id: string): string {
  return `${id}.${randomBytes(32).toString('base64url')}`;
}

/** The stored form of a token: scrypt with a fresh salt. */
export async function hashToken(token: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltBytes);
  const key = await scryptAsync(token, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Whether `stored` is a well-formed scrypt hash (for config validation). */
export function parseTokenHash(stored: string): { N: number; r: number; p: number; salt: Buffer; key: Buffer } | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4] as string, 'base64url');
  const key = Buffer.from(parts[5] as string, 'base64url');
  const sane = (x: number, max: number): boolean => Number.isSafeInteger(x) && x >= 1 && x <= max;
  if (!sane(N, 1 << 20) || (N & (N - 1)) !== 0 || !sane(r, 32) || !sane(p, 16)) return null;
  if (salt.byteLength < 8 || key.byteLength < 16) return null;
  return { N, r, p, salt, key };
}

async function verifyTokenHash(token: string, stored: string): Promise<boolean> {
  const h = parseTokenHash(stored);
  if (h === null) return false;
  const key = await scryptAsync(token, h.salt, h.N, h.r, h.p, h.key.byteLength);
  return timingSafeEqual(key, h.key);
}

function scryptAsync(secret: string, salt: Buffer, N: number, r: number, p: number, keyBytes = 32): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, keyBytes, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}
