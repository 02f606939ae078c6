// Security counters on the node's registry (kept apart from metrics.ts): peer requests refused for a
// missing or wrong MAC, client calls refused by authentication or authorisation, per token id
// (never the token itself), and client calls refused by a per-client limit, per limit.
import { Counter } from 'prom-client';
import { syncTo } from './counter-sync.js';
import type { NodeMetrics } from './metrics.js';

export interface SecurityMetrics {
  peerUnauthenticated: Counter;
  clientAuthFailures: Counter<'token' | 'code'>;
  clientLimited: Counter<'limit'>;
}

const made = new WeakMap<NodeMetrics, SecurityMetrics>();

export function securityMetrics(m: NodeMetrics): SecurityMetrics {
  let s = made.get(m);
  if (s === undefined) {
    s = {
      peerUnauthenticated: new Counter({
        name: 'raftq_peer_unauthenticated_total',
        help: 'Peer requests dropped without a valid MAC under the cluster secret',
        registers: [m.registry],
      }),
      clientAuthFailures: new Counter({
        name: 'raftq_client_auth_failures_total',
        help: 'Client calls refused UNAUTHENTICATED or PERMISSION_DENIED, per token id',
        labelNames: ['token', 'code'],
        registers: [m.registry],
      }),
      clientLimited: new Counter({
        name: 'raftq_client_limited_total',
        help: 'Client calls refused RESOURCE_EXHAUSTED by a per-client limit (rate-limits.ts), per limit',
        labelNames: ['limit'],
        registers: [m.registry],
      }),
    };
    made.set(m, s);
  }
  return s;
}

/** On each scrape: the peer server's MAC refusals and the client service's auth refusals per token id. */
export function refreshSecurityMetrics(
  m: NodeMetrics,
  peerUnauthenticated: number,
  authFailures: Record<string, { unauthenticated: number; permissionDenied: number }>,
  limited: Record<string, number> = {},
): void {
  const s = securityMetrics(m);
  syncTo(s.peerUnauthenticated, peerUnauthenticated);
  for (const [token, c] of Object.entries(authFailures)) {
    syncTo(s.clientAuthFailures, c.unauthenticated, { token, code: 'UNAUTHENTICATED' });
    syncTo(s.clientAuthFailures, c.permissionDenied, { token, code: 'PERMISSION_DENIED' });
  }
  for (const [limit, n] of Object.entries(limited)) syncTo(s.clientLimited, n, { limit });
}
