// The strict Prometheus text parser the metrics tests rely on (test/support/prom-text.ts): it reads
// what prom-client writes, and refuses what Prometheus would refuse.
import { describe, expect, it } from 'vitest';
import { NodeMetrics } from '../../../src/node/metrics.js';
import { documentedMetrics, parsePromText, sampleValue } from '../../support/prom-text.js';

describe('parsePromText', () => {
  it("reads a node's registry: types, labels with escapes, histogram series", async () => {
    const m = new NodeMetrics({ version: '1.2.3', defaultMetrics: false });
    m.tasks.set({ queue: 'a "q"\\x\nz', state: 'waiting' }, 4);
    m.waitSeconds.observe({ queue: 'a' }, 0.02);
    const f = parsePromText(await m.registry.metrics());
    expect(f.get('raftq_tasks')?.type).toBe('gauge');
    expect(sampleValue(f, 'raftq_tasks', { queue: 'a "q"\\x\nz', state: 'waiting' })).toBe(4);
    expect(f.get('raftq_queue_wait_seconds')?.type).toBe('histogram');
    expect(sampleValue(f, 'raftq_queue_wait_seconds_count', { queue: 'a' })).toBe(1);
    expect(sampleValue(f, 'raftq_queue_wait_seconds_bucket', { queue: 'a', le: '+Inf' })).toBe(1);
    expect(sampleValue(f, 'raftq_build_info', { version: '1.2.3' })).toBe(1);
  });

  it.each([
    ['no TYPE', 'x 1\n'],
    ['no final newline', '# TYPE x gauge\nx 1'],
    ['bad value', '# TYPE x gauge\nx one\n'],
    ['bad escape', '# TYPE x gauge\nx{a="\\t"} 1\n'],
    ['repeated series', '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n'],
    ['split family', '# TYPE x gauge\n# TYPE y gauge\ny 1\nx 1\n'],
    ['unterminated labels', '# TYPE x gauge\nx{a="1" 1\n'],
    ['bad type', '# TYPE x meter\n'],
  ])('refuses %s', (_, text) => {
    expect(() => parsePromText(text)).toThrow();
  });

  it('reads the metric names of the documentation tables', () => {
    const md = '| metric | type |\n| --- | --- |\n| `a_total` | counter |\n| `b` | gauge |\ntext `c` here\n';
    expect([...documentedMetrics(md)]).toEqual(['a_total', 'b']);
  });
});
