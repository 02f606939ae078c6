// Per-client limits on the client port (issue #14, docs/security.md), checked by a gRPC server
// interceptor before a call reaches its handler, so a refused call applies nothing and costs no log
// entry. A refusal is RESOURCE_EXHAUSTED naming the limit, with the time after which the bucket has
// room again (the SDK waits that long before it retries):
// - session opens per second per (client address, token): each open costs a log entry;
// - calls per second per token (per client address for calls without a token);
// - calls in flight per client address (held lease polls and event streams included);
// - token checks per second per client address: calls whose token would cost a slow hash (scrypt),
//   so guessing a known token id's secret cannot eat the node's CPU.
// Buckets are keyed by a hash of the token as presented (no scrypt here): a caller who does not hold
// a token cannot drain its bucket, and a made-up token only fills its own. The key maps are bounded.
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { ErrorDetail } from '../protocol/errors.js';
import { grpcErrorOf } from './client-errors.js';

export interface ClientLimits {
  /** Session opens per second per (client address, token); bursts of twice that. 0: no limit. */
  sessionOpensPerSec: number;
  /** Calls per second per token, or per client address without one; bursts of twice that. 0: no limit. */
  requestsPerSec: number;
  /** Calls in flight at once per client address. 0: no limit. */
  callsInFlightPerAddress: number;
  /** Calls per second per client address whose token needs a slow (scrypt) check; bursts of twice that. 0: no limit. */
  tokenChecksPerSec: number;
  /** Open connections per client address (conn-limits.ts, counted as accepted). 0: no limit. */
  connectionsPerAddress?: number;
}

export const CLIENT_LIMIT_DEFAULT_OPTIONS: ClientLimits = {
  sessionOpensPerSec: 200,
  requestsPerSec: 0,
  callsInFlightPerAddress: 0,
  tokenChecksPerSec: 20,
  connectionsPerAddress: 0,
};

export type LimitName =
  'session_opens_per_second' | 'requests_per_second' | 'calls_in_flight_per_address' | 'token_checks_per_second';

/** Keys remembered per map; beyond, the least recently used is forgotten (a fresh, full bucket). */
const KEYS_MAX = 10_000;
const BURST_SECONDS = 2;

class Buckets {
  private readonly tokens = new Map<string, { level: number; at: number }>();

  constructor(
    private readonly perSec: number,
    private readonly now: () => number,
  ) {}

  /** Takes one token; 0 when taken, else the ms until one is there. */
  take(key: string): number {
    const cap = this.perSec * BURST_SECONDS;
    const t = this.now();
    const b = this.tokens.get(key) ?? { level: cap, at: t };
    this.tokens.delete(key); // re-inserted last: the map's order is least recently used first
    b.level = Math.min(cap, b.level + ((t - b.at) * this.perSec) / 1000);
    b.at = t;
    let wait = 0;
    if (b.level >= 1) b.level -= 1;
    else wait = Math.ceil(((1 - b.level) * 1000) / this.perSec);
    this.tokens.set(key, b);
    if (this.tokens.size > KEYS_MAX) this.tokens.delete(this.tokens.keys().next().value as string);
    return wait;
  }
}

export class ClientRateLimiter {
  private readonly opens: Buckets | null;
  private readonly requests: Buckets | null;
  private readonly checks: Buckets | null;
  private readonly slowCheck: (authorization: unknown) => boolean;
  private readonly inFlight = new Map<string, number>();
  private readonly refused: Record<LimitName, number> = {
    session_opens_per_second: 0,
    requests_per_second: 0,
    calls_in_flight_per_address: 0,
    token_checks_per_second: 0,
  };

  /** `slowCheck`: whether a call's authorization would cost a slow hash (ClientAuth.needsSlowCheck). */
  constructor(
    readonly limits: ClientLimits,
    opts: { now?: () => number; slowCheck?: (authorization: unknown) => boolean } = {},
  ) {
    const now = opts.now ?? ((): number => performance.now());
    this.opens = limits.sessionOpensPerSec > 0 ? new Buckets(limits.sessionOpensPerSec, now) : null;
    this.requests = limits.requestsPerSec > 0 ? new Buckets(limits.requestsPerSec, now) : null;
    this.checks = limits.tokenChecksPerSec > 0 ? new Buckets(limits.tokenChecksPerSec, now) : null;
    this.slowCheck = opts.slowCheck ?? ((): boolean => false);
  }

  /** Calls in flight from `address` (counted only under callsInFlightPerAddress). */
  inFlightOf(address: string): number {
    return this.inFlight.get(address) ?? 0;
  }

  /** Refusals so far, by limit. */
  refusals(): Record<LimitName, number> {
    return { ...this.refused };
  }

  /**
   * Admits one call of `method` (the gRPC path) from `peer` ("host:port") with `authorization`: a
   * release function to call when it ends, or the refusal.
   */
  admit(method: string, peer: string, authorization: unknown): { release: () => void } | ErrorDetail {
    const address = hostOf(peer);
    const token = typeof authorization === 'string' && authorization !== '' ? tokenKey(authorization) : null;
    const cap = this.limits.callsInFlightPerAddress;
    const held = this.inFlight.get(address) ?? 0;
    if (cap > 0 && held >= cap) {
      return this.refuse('calls_in_flight_per_address', `${cap} calls in flight from ${address}`, 100);
    }
    if (this.checks !== null && this.slowCheck(authorization)) {
      const w = this.checks.take(address);
      if (w > 0) {
        const what = `over ${this.limits.tokenChecksPerSec} checks per second of tokens not yet proven, from ${address}`;
        return this.refuse('token_checks_per_second', what, w);
      }
    }
    const wait = this.requests?.take(token ?? `addr:${address}`) ?? 0;
    if (wait > 0) {
      return this.refuse('requests_per_second', `over ${this.limits.requestsPerSec} calls per second per token`, wait);
    }
    if (method.endsWith('/OpenSession')) {
      const w = this.opens?.take(`${address} ${token ?? ''}`) ?? 0;
      if (w > 0) {
        const what = `over ${this.limits.sessionOpensPerSec} session opens per second per client address and token`;
        return this.refuse('session_opens_per_second', what, w);
      }
    }
    if (cap === 0) return { release: () => undefined };
    if (!this.inFlight.has(address) && this.inFlight.size >= KEYS_MAX) {
      return this.refuse('calls_in_flight_per_address', 'too many client addresses with calls in flight', 100);
    }
    this.inFlight.set(address, held + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const n = (this.inFlight.get(address) ?? 1) - 1;
        if (n <= 0) this.inFlight.delete(address);
        else this.inFlight.set(address, n);
      },
    };
  }

  /** A SubmitStream request over the request rate: its refusal as the stream's reply to it, else null. */
  takeStreamed(peer: string, authorization: unknown, msg: unknown): Record<string, unknown> | null {
    if (this.requests === null) return null;
    const value = (msg as { ok?: boolean; value?: Record<string, unknown> }).value;
    if (value === undefined || value['cancel'] === true) return null;
    const token = typeof authorization === 'string' && authorization !== '' ? tokenKey(authorization) : null;
    const wait = this.requests.take(token ?? `addr:${hostOf(peer)}`);
    if (wait === 0) return null;
    const d = this.refuse('requests_per_second', `over ${this.limits.requestsPerSec} calls per second per token`, wait);
    return { id: value['id'], error: { code: d.code, message: d.message, detailJson: JSON.stringify(d) } };
  }

  private refuse(limit: LimitName, what: string, retryAfterMs: number): ErrorDetail {
    this.refused[limit] += 1;
    return { code: 'RESOURCE_EXHAUSTED', message: `${limit}: ${what}`, limit, retryAfterMs };
  }

  /** The server interceptor: a refused call gets its status at once and never reaches the handler. */
  interceptor(): grpc.ServerInterceptor {
    return (descriptor, call) => {
      let release = (): void => undefined;
      let refused = false;
      let authorization: unknown;
      const streamed = descriptor.path.endsWith('/SubmitStream');
      return new grpc.ServerInterceptingCall(call, {
        start: (next) =>
          next({
            onReceiveMetadata: (md, pass) => {
              authorization = md.get('authorization')[0];
              const admitted = this.admit(descriptor.path, call.getPeer(), authorization);
              if ('code' in admitted) {
                refused = true;
                call.sendStatus(grpcErrorOf(admitted) as grpc.StatusObject);
                return;
              }
              release = admitted.release;
              pass(md);
            },
            onReceiveMessage: (msg, pass) => {
              if (refused) return;
              // On the Submit stream each request counts as a call of its own against the request rate.
              // (Without a request rate there is nothing to take: not even the peer is looked up.)
              if (streamed && this.requests !== null) {
                const denied = this.takeStreamed(call.getPeer(), authorization, msg);
                if (denied !== null) {
                  call.sendMessage(denied, () => undefined);
                  // The handler never saw this request, so it will not ask for the next: ask here.
                  return call.startRead();
                }
              }
              pass(msg);
            },
            onReceiveHalfClose: (pass) => {
              if (!refused) pass();
            },
            onCancel: () => release(),
          }),
        sendStatus: (status, next) => {
          release();
          next(status);
        },
      });
    };
  }
}

/** The host of "host:port", "[v6]:port" or "ipv4:host:port" (grpc-js peer strings). */
export function hostOf(peer: string): string {
  const p = peer.replace(/^ipv[46]:/, '');
  const colon = p.lastIndexOf(':');
  const host = colon > 0 ? p.slice(0, colon) : p;
  return host.replace(/^\[|\]$/g, '');
}

function tokenKey(authorization: string): string {
  return `tok:${createHash('sha256').update(authorization).digest('base64url').slice(0, 22)}`;
}
