// Per-key metrics (issue 13): the limit keys with the most tasks waiting keep their own `key` label,
// the rest are summed under _other, the unkeyed tasks are _none; totals match the `keys` read.
import { describe, expect, it } from 'vitest';
import type { KeyPage, LeasedTask } from '../../../src/protocol/index.js';
import { KEY_LABELS_MAX, refreshKeyMetrics } from '../../../src/node/key-metrics.js';
import { NodeMetrics } from '../../../src/node/metrics.js';
import { parsePromText } from '../../support/prom-text.js';
import { Driver, bytes } from '../statemachine/harness.js';

async function series(m: NodeMetrics, name: string): Promise<Map<string, number>> {
  const f = parsePromText(await m.registry.metrics()).get(name);
  return new Map((f?.samples ?? []).map((s) => [s.labels['key'] ?? s.labels['queue'] ?? '', s.value]));
}

const sum = (xs: Iterable<number>): number => [...xs].reduce((a, b) => a + b, 0);

describe('node - per-key metrics', () => {
  it('labels the top keys by waiting, sums the rest under _other, and matches the keys read', async () => {
    const d = new Driver();
    d.value({
      type: 'createQueue',
      queue: 'q',
      settings: { keyLimits: { concurrency: 2, rate: { limit: 10, intervalMs: 1000 } }, keys: { k13: { weight: 3 } } },
    } as never);
    // k00 .. k13 with 1 .. 14 tasks waiting, and 2 tasks without a key.
    const tasks = Array.from({ length: 14 }, (_, i) =>
      Array.from({ length: i + 1 }, () => ({ payload: bytes(1), key: `k${String(i).padStart(2, '0')}` })),
    ).flat();
    d.value({ type: 'enqueue', queue: 'q', tasks: [...tasks, { payload: bytes(1) }, { payload: bytes(1) }] } as never);
    const m = new NodeMetrics();
    refreshKeyMetrics(m, d.sm.state, ['q', 'absent']);
    const waiting = await series(m, 'raftq_key_waiting');
    expect(waiting.size).toBe(KEY_LABELS_MAX + 1);
    for (let i = 4; i < 14; i++) expect(waiting.get(`k${String(i).padStart(2, '0')}`)).toBe(i + 1);
    // k00..k03 (1+2+3+4) and the unkeyed 2.
    expect(waiting.get('_other')).toBe(12);
    expect((await series(m, 'raftq_limit_keys')).get('q')).toBe(15);
    expect((await series(m, 'raftq_key_weight')).get('k13')).toBe(3);
    expect((await series(m, 'raftq_key_tokens')).get('k13')).toBe(10);

    // Lease what the limits allow, and give one back as rate limited: held, leased and cost add up.
    const { tasks: leased } = d.value<{ tasks: LeasedTask[] }>({
      type: 'lease',
      queue: 'q',
      workerId: 'w',
      max: 1000,
    } as never);
    const back = leased.find((t) => t.key === 'k13') as LeasedTask;
    d.value({ type: 'release', id: back.id, token: back.token, holdMs: 5000 } as never);
    refreshKeyMetrics(m, d.sm.state, ['q']);
    const page = d.read<KeyPage>({ type: 'keys', queue: 'q' });
    const total = (f: 'waiting' | 'leased' | 'inUse'): number => sum(page.items.map((k) => k[f]));
    expect(sum((await series(m, 'raftq_key_waiting')).values())).toBe(total('waiting'));
    expect(sum((await series(m, 'raftq_key_leased')).values())).toBe(total('leased'));
    expect(sum((await series(m, 'raftq_key_cost_in_use')).values())).toBe(total('inUse'));
    expect(total('leased')).toBe(leased.length - 1);
    expect((await series(m, 'raftq_limit_keys_held')).get('q')).toBe(1);
    // The unkeyed tasks are _none when they rank among the top keys.
    const few = new Driver();
    few.value({
      type: 'enqueue',
      queue: 'p',
      tasks: [{ payload: bytes(1) }, { payload: bytes(1), key: 'a' }],
    } as never);
    const m2 = new NodeMetrics();
    refreshKeyMetrics(m2, few.sm.state, ['p']);
    expect([...(await series(m2, 'raftq_key_waiting')).entries()].sort()).toEqual([
      ['_none', 1],
      ['a', 1],
    ]);
  });
});
