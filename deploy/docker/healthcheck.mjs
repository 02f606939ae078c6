// Container HEALTHCHECK: GET /healthz on this node's admin port (RAFTQ_HTTP, default 0.0.0.0:8001).
// Exit 0 when it answers 200, 1 otherwise. Node has fetch built in; the slim image has no curl.
/* global fetch, AbortSignal -- Node 20 globals, not in this lint config's list */
const http = process.env.RAFTQ_HTTP || '0.0.0.0:8001';
const m = /^(?:\[(.+)\]|([^:]+)):(\d+)$/.exec(http);
if (!m) {
  console.error(`healthcheck: RAFTQ_HTTP "${http}" is not host:port`);
  process.exit(1);
}
const host = m[1] ?? m[2];
// A wildcard bind is reached through loopback.
const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : m[1] ? `[${host}]` : host;
try {
  const res = await fetch(`http://${target}:${m[3]}/healthz`, { signal: AbortSignal.timeout(2500) });
  process.exit(res.status === 200 ? 0 : 1);
} catch (err) {
  console.error(`healthcheck: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
