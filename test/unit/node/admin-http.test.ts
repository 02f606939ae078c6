import { afterEach, describe, expect, it } from 'vitest';
import { AdminHttp } from '../../../src/node/admin-http.js';
import { NodeMetrics } from '../../../src/node/metrics.js';

let admin: AdminHttp | null = null;
afterEach(async () => admin?.close());

describe('admin HTTP', () => {
  it('serves health, readiness, metrics, status and digests', async () => {
    let ready = false;
    const metrics = new NodeMetrics();
    metrics.term.set(3);
    metrics.fsyncSeconds.observe(0.0004);
    admin = new AdminHttp(
      { ready: () => ready, status: () => ({ leader: 'n1' }), digests: () => [{ index: 10, digest: 'ab' }] },
      metrics,
    );
    const { port } = await admin.listen('127.0.0.1', 0);
    const get = (p: string) => fetch(`http://127.0.0.1:${port}${p}`);
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(503);
    ready = true;
    expect((await get('/readyz')).status).toBe(200);
    const text = await (await get('/metrics')).text();
    expect(text).toMatch(/^raftq_raft_term 3$/m);
    expect(text).toMatch(/raftq_fsync_seconds_bucket\{le="0.0005"\} 1/);
    expect(await (await get('/status')).json()).toEqual({ leader: 'n1' });
    expect(await (await get('/debug/digests')).json()).toEqual([{ index: 10, digest: 'ab' }]);
    expect((await get('/nope')).status).toBe(404);
  });
});
