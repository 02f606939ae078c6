// QueueHistogram counts observations in plain arrays and folds them into prom-client's records at a
// scrape: what a scrape shows must equal a plain prom-client Histogram fed the same values (this also
// fails on a prom-client release that keeps its per-label records differently).
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { QueueHistogram } from '../../../src/node/queue-histogram.js';
import { parsePromText, sampleValue } from '../../support/prom-text.js';

const BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];

function pair(): { fast: QueueHistogram; plain: Histogram<'queue'>; fastReg: Registry; plainReg: Registry } {
  const fastReg = new Registry();
  const plainReg = new Registry();
  const fast = new QueueHistogram({ name: 'h', help: 'help', buckets: BUCKETS, registry: fastReg });
  const plain = new Histogram({
    name: 'h',
    help: 'help',
    labelNames: ['queue'],
    buckets: BUCKETS,
    registers: [plainReg],
  });
  return { fast, plain, fastReg, plainReg };
}

/** Values on, between and beyond the bounds. */
const value = fc.oneof(
  fc.constantFrom(0, ...BUCKETS, 5.000001, 1e9),
  fc.double({ min: 0, max: 10, noNaN: true, noDefaultInfinity: true }),
);

/**
 * The same series with the same values; a sum may differ in its last bits (the folded sums add the
 * observations of a scrape interval first, then to the total: float addition is not associative).
 */
function sameExposition(fastText: string, plainText: string): void {
  const samples = (text: string) => [...parsePromText(text).values()].flatMap((f) => f.samples);
  const fast = samples(fastText);
  const plain = samples(plainText);
  expect(fast.map((x) => [x.name, x.labels])).toEqual(plain.map((x) => [x.name, x.labels]));
  fast.forEach((x, i) => {
    const want = (plain[i] as { value: number }).value;
    if (x.name.endsWith('_sum'))
      expect(Math.abs(x.value - want)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));
    else expect(x.value).toBe(want);
  });
}

describe('QueueHistogram', () => {
  it('shows at each scrape exactly what a plain histogram fed the same values shows', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c "q"'), value), { maxLength: 40 }), {
          minLength: 1,
          maxLength: 4,
        }),
        async (rounds) => {
          const { fast, plain, fastReg, plainReg } = pair();
          const children = new Map<string, { observe(v: number): void }>();
          for (const round of rounds) {
            for (const [queue, v] of round) {
              let child = children.get(queue);
              if (child === undefined) children.set(queue, (child = fast.child(queue)));
              child.observe(v);
              plain.observe({ queue }, v);
            }
            // A scrape between rounds: later observations add to the folded ones.
            sameExposition(await fastReg.metrics(), await plainReg.metrics());
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('keeps a count on the exact bucket bound and beyond the last one', async () => {
    const { fast, fastReg } = pair();
    const c = fast.child('q');
    for (const v of [0.001, 0.0011, 5, 7]) c.observe(v);
    const f = parsePromText(await fastReg.metrics());
    expect(sampleValue(f, 'h_bucket', { queue: 'q', le: '0.001' })).toBe(1);
    expect(sampleValue(f, 'h_bucket', { queue: 'q', le: '0.005' })).toBe(2);
    expect(sampleValue(f, 'h_bucket', { queue: 'q', le: '5' })).toBe(3);
    expect(sampleValue(f, 'h_bucket', { queue: 'q', le: '+Inf' })).toBe(4);
    expect(sampleValue(f, 'h_count', { queue: 'q' })).toBe(4);
    expect(sampleValue(f, 'h_sum', { queue: 'q' })).toBeCloseTo(12.0021, 9);
  });

  it("mixes with prom-client's own observe, ignores a non-finite value, and resets both", async () => {
    const { fast, fastReg } = pair();
    const c = fast.child('q');
    c.observe(0.002);
    c.observe(Number.NaN);
    fast.observe({ queue: 'q' }, 0.2);
    let f = parsePromText(await fastReg.metrics());
    expect(sampleValue(f, 'h_count', { queue: 'q' })).toBe(2);
    expect(sampleValue(f, 'h_bucket', { queue: 'q', le: '0.005' })).toBe(1);
    c.observe(0.002); // pending when the registry resets: gone with the rest
    fastReg.resetMetrics();
    f = parsePromText(await fastReg.metrics());
    expect(sampleValue(f, 'h_count', { queue: 'q' })).toBeUndefined();
    c.observe(3);
    f = parsePromText(await fastReg.metrics());
    expect(sampleValue(f, 'h_count', { queue: 'q' })).toBe(1);
    expect(sampleValue(f, 'h_bucket', { queue: 'q', le: '1' })).toBe(0);
    expect(sampleValue(f, 'h_bucket', { queue: 'q', le: '5' })).toBe(1);
  });

  it('refuses buckets that do not increase', () => {
    expect(() => new QueueHistogram({ name: 'x', help: 'x', buckets: [1, 1], registry: new Registry() })).toThrow(
      /increase/,
    );
  });
});
