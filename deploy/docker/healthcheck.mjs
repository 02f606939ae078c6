// Container HEALTHCHECK: GET /healthz on this node's admin port (RAFTQ_HTTP, default 0.0.0.0:8001).
// Exit 0 when it answers 200, 1 otherwise. Node has fetch built in; the slim image has no curl.
// With TLS on (RAFTQ_TLS_CERT_FILE set, as in the deploy files) the admin port speaks HTTPS: the
// probe connects with TLS but does not check the certificate (it sends nothing secret and only asks
// whether this process answers; /healthz needs no token).
/* global fetch, AbortSignal -- Node 20 globals, not in this lint config's list */
import { get } from 'node:https';
const http = process.env.RAFTQ_HTTP || '0.0.0.0:8001';
const m = /^(?:\[(.+)\]|([^:]+)):(\d+)$/.exec(http);
if (!m) {
  console.error(`healthcheck: RAFTQ_HTTP "${http}" is not host:port`);
  process.exit(1);
}
const host = m[1] ?? m[2];
// A wildcard bind is reached through loopback.
const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : m[1] ? `[${host}]` : host;
const httpsStatus = (url) =>
  new Promise((resolve, reject) => {
    const req = get(url, { rejectUnauthorized: false, timeout: 2500 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
try {
  const url = `${process.env.RAFTQ_TLS_CERT_FILE ? 'https' : 'http'}://${target}:${m[3]}/healthz`;
  const status = url.startsWith('https')
    ? await httpsStatus(url)
    : (await fetch(url, { signal: AbortSignal.timeout(2500) })).status;
  process.exit(status === 200 ? 0 : 1);
} catch (err) {
  console.error(`healthcheck: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
