// Security counters on the node's registry (kept apart from metrics.ts): peer requests refused for a
// missing or wrong MAC, and client calls refused by authentication or authorisation, per token id
// (never the token itself).
import { Counter } from 'prom-client';
import type { NodeMetrics } from './metrics.js';

export interface SecurityMetrics {
  peerUnauthenticated: Counter;
  clientAuthFailures: Counter<'token' | 'code'>;
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
    };
    made.set(m, s);
  }
  return s;
}
