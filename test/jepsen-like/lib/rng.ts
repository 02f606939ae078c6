// The suite's seeded randomness: one seed picks the schedule, the fault targets and the workload's
// choices. Real processes and real time still make two runs differ; the seed makes them alike.
import { Rng as CoreRng } from '../../../src/raft/rng.js';

export class Rng {
  private readonly core: CoreRng;

  constructor(readonly seed: number) {
    this.core = new CoreRng(seed);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.core.nextU32() / 0x100000000;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return this.core.int(n);
  }

  /** Uniform in [lo, hi). */
  between(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** `k` distinct items in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i -= 1) {
      const j = this.int(i + 1);
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy.slice(0, k);
  }

  /** A new generator derived from this one (separate streams for the workload and the nemesis). */
  fork(): Rng {
    return new Rng(this.core.nextU32());
  }
}
