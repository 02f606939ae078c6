// The Client's helpers without state (src/client/client.ts): its default transport and how a
// failed call's error is read and reported.
import type { ErrorDetail } from '../protocol/errors.js';
import { isErrorDetail } from '../protocol/errors.js';
import { asObject } from '../protocol/wire-values.js';
import type { Clock } from './clock.js';
import { CoalescingTransport, type CoalescingOptions } from './coalesce.js';
import type { ClientOptions } from './client-options.js';
import { errorFromDetail, type RaftqError } from './errors.js';
import { GrpcTransport } from './grpc-transport.js';
import { TransportError, type Message, type Transport } from './transport.js';

/**
 * Out of time or retries: the last error; when no server answered at all, an UNAVAILABLE that
 * names the addresses tried.
 */
export function finalError(closed: boolean, last: ErrorDetail, tried: ReadonlySet<string>): ErrorDetail {
  if (closed) return { code: 'UNAVAILABLE', message: 'client is closed' };
  if (last.code === 'UNAVAILABLE' && tried.size > 0) {
    const message = `no server answered (tried ${[...tried].join(', ')}); last error: ${last.message}`;
    return { ...last, message };
  }
  // The deadline ran out during an attempt (often one still connecting): name the servers too.
  if (last.code === 'DEADLINE_EXCEEDED' && tried.size > 0) {
    return {
      ...last,
      message: `no answer within the deadline (tried ${[...tried].join(', ')}); last error: ${last.message}`,
    };
  }
  return last;
}

export function beforeFirstSend(): ErrorDetail {
  return { code: 'DEADLINE_EXCEEDED', message: 'deadline passed before the first send' };
}

export function defaultTransport(coalesce: boolean | CoalescingOptions, clock: Clock, o: ClientOptions): Transport {
  const grpcTransport = new GrpcTransport({
    ...(o.token === undefined ? {} : { token: o.token }),
    ...(o.tls === undefined ? {} : { tls: o.tls }),
  });
  if (coalesce === false) return grpcTransport;
  return new CoalescingTransport(grpcTransport, { clock, ...(coalesce === true ? {} : coalesce) });
}

export function isLinearizable(body: Message): boolean {
  const read = asObject(body['read']);
  return body['read'] !== undefined && read['consistency'] !== 'STALE';
}

export function detailOf(e: unknown): ErrorDetail {
  if (e instanceof TransportError) return e.detail;
  if (isErrorDetail(asObject(e)['detail'])) return asObject(e)['detail'] as ErrorDetail;
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
}

export function toRaftqError(e: unknown): RaftqError {
  return errorFromDetail(detailOf(e));
}
