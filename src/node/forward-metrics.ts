// Follower forwarding counters on the node's registry (kept apart from metrics.ts): what this node
// forwarded to the leader and how it ended, and what it ran for followers while leading.
import { Counter, Gauge } from 'prom-client';
import type { ForwardingMetrics } from '../rpc/forward.js';
import type { ForwardServiceMetrics } from '../rpc/forward-server.js';
import { syncTo } from './counter-sync.js';
import type { NodeMetrics } from './metrics.js';

interface ForwardRegistry {
  calls: Counter<'outcome'>;
  inflight: Gauge;
  served: Counter<'outcome'>;
}

const made = new WeakMap<NodeMetrics, ForwardRegistry>();
function registry(m: NodeMetrics): ForwardRegistry {
  let r = made.get(m);
  if (r === undefined) {
    r = {
      calls: new Counter({
        name: 'raftq_forward_calls_total',
        help: 'Client calls this follower forwarded to the leader, by outcome',
        labelNames: ['outcome'],
        registers: [m.registry],
      }),
      inflight: new Gauge({
        name: 'raftq_forward_inflight',
        help: 'Client calls forwarded to the leader and not answered yet',
        registers: [m.registry],
      }),
      served: new Counter({
        name: 'raftq_forward_served_total',
        help: 'Forwarded calls this node received from followers, by outcome',
        labelNames: ['outcome'],
        registers: [m.registry],
      }),
    };
    made.set(m, r);
  }
  return r;
}

/** On each scrape: the forwarding executor's and the forward service's counts. */
export function refreshForwardMetrics(m: NodeMetrics, sent: ForwardingMetrics, served: ForwardServiceMetrics): void {
  const r = registry(m);
  syncTo(r.calls, sent.forwarded, { outcome: 'answered' });
  syncTo(r.calls, sent.failed, { outcome: 'unknown' });
  syncTo(r.calls, sent.refused, { outcome: 'refused' });
  syncTo(r.calls, sent.unreachable, { outcome: 'unreachable' });
  syncTo(r.calls, sent.rejectedInflight, { outcome: 'inflight_bound' });
  r.inflight.set(sent.inflight);
  syncTo(r.served, served.served, { outcome: 'answered' });
  syncTo(r.served, served.refused, { outcome: 'refused' });
}
