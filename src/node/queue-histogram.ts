// A prom-client histogram with one label, `queue`, whose observations are counted in plain arrays
// and folded into the histogram when it is collected (a scrape). prom-client's own observe builds a
// label object, validates it and hashes it into a string on every call: about 3 µs, two calls per
// task on every node, 4-5 % of a follower's time under load (bench/RESULTS.md, session 22).
//
// The fold writes prom-client's per-label record (`hashMap` values: labels, bucketValues by upper
// bound, sum, count) directly, after `zero()` created it through the public API. That record is not
// public: test/unit/node/queue-histogram.test.ts compares the exposition with a plain Histogram fed
// the same values, and fails on a prom-client whose record differs.
import { Histogram, type Registry } from 'prom-client';
import { assert } from '../protocol/assert.js';

/** What prom-client keeps per label set (histogram.js createBaseValues). */
interface LabelRecord {
  labels: Record<string, string | number>;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

/** One queue's observations since the last fold: per bucket (the last one is +Inf), sum, count. */
class Pending {
  readonly counts: Float64Array;
  sum = 0;
  n = 0;

  constructor(buckets: number) {
    this.counts = new Float64Array(buckets + 1);
  }
}

export interface QueueHistogramConfig {
  name: string;
  help: string;
  buckets: readonly number[];
  registry: Registry;
}

export class QueueHistogram extends Histogram<'queue'> {
  private readonly pending = new Map<string, Pending>();
  private readonly bounds: readonly number[];

  constructor(cfg: QueueHistogramConfig) {
    super({
      name: cfg.name,
      help: cfg.help,
      labelNames: ['queue'],
      buckets: [...cfg.buckets],
      registers: [cfg.registry],
      collect(this: Histogram<'queue'>) {
        (this as QueueHistogram).fold();
      },
    });
    this.bounds = [...cfg.buckets];
    for (let i = 1; i < this.bounds.length; i++)
      assert((this.bounds[i] as number) > (this.bounds[i - 1] as number), 'queue histogram: buckets must increase');
  }

  /** prom-client's reset (a registry's resetMetrics), and the observations not folded yet. */
  override reset(): void {
    super.reset();
    // prom-client's constructor resets too, before this class's fields exist.
    const pending = this.pending as Map<string, Pending> | undefined;
    if (pending === undefined) return;
    for (const p of pending.values()) {
      p.counts.fill(0);
      p.sum = 0;
      p.n = 0;
    }
  }

  /** The queue's observer: counts only; the histogram sees them at the next collection. */
  child(queue: string): { observe(v: number): void } {
    let p = this.pending.get(queue);
    if (p === undefined) {
      p = new Pending(this.bounds.length);
      this.pending.set(queue, p);
    }
    const pending = p;
    const bounds = this.bounds;
    return {
      observe(v: number): void {
        if (!Number.isFinite(v)) return; // prom-client would throw; a metric never stops an apply
        let i = 0;
        while (i < bounds.length && v > (bounds[i] as number)) i++;
        (pending.counts[i] as number) += 1;
        pending.sum += v;
        pending.n += 1;
      },
    };
  }

  /** Every queue's pending observations into prom-client's records (then formatted as its own). */
  private fold(): void {
    for (const [queue, p] of this.pending) {
      if (p.n === 0) continue;
      const rec = this.recordOf(queue);
      for (let i = 0; i < this.bounds.length; i++) {
        const k = p.counts[i] as number;
        if (k === 0) continue;
        const key = String(this.bounds[i]);
        assert(key in rec.bucketValues, 'queue histogram: prom-client keeps buckets differently');
        rec.bucketValues[key] = (rec.bucketValues[key] as number) + k;
      }
      rec.sum += p.sum;
      rec.count += p.n;
      p.counts.fill(0);
      p.sum = 0;
      p.n = 0;
    }
  }

  private recordOf(queue: string): LabelRecord {
    const find = (): LabelRecord | undefined =>
      Object.values((this as unknown as { hashMap: Record<string, LabelRecord> }).hashMap).find(
        (r) => r.labels['queue'] === queue,
      );
    let rec = find();
    if (rec === undefined) {
      this.zero({ queue });
      rec = find();
    }
    assert(rec !== undefined && typeof rec.sum === 'number', 'queue histogram: prom-client keeps labels differently');
    return rec;
  }
}
