// White-box checks from polling every node's /status during the run (docs/faults.md Q10, Q12): at most
// one leader per term, a node's term never decreases (across restarts too: it is durable), and applied ≤
// committed on every node. The history's checker is black-box; these complement it.
import type { NodeStatus } from './cluster.js';

export interface WhiteboxResult {
  valid: boolean;
  count: number;
  details: Record<string, number>;
  examples: unknown[];
}

export class WhiteboxObserver {
  private readonly leaders = new Map<number, Set<string>>();
  private readonly lastTerm = new Map<string, number>();
  private readonly violations: { kind: string; [k: string]: unknown }[] = [];
  private samples = 0;

  /** A violation found outside the polling (a crash, no convergence after the heal, a failed read). */
  violation(kind: string, example: Record<string, unknown>): void {
    this.violations.push({ kind, ...example });
  }

  /** `generation`: how often the node's data dir was wiped (a wiped node starts again at term 0). */
  observe(s: NodeStatus, generation = 0): void {
    this.samples += 1;
    if (s.role === 'leader') {
      const set = this.leaders.get(s.term) ?? new Set<string>();
      set.add(s.id);
      this.leaders.set(s.term, set);
      if (set.size === 2) this.violations.push({ kind: 'two-leaders-in-term', term: s.term, nodes: [...set] });
    }
    const key = `${s.id}/${generation}`;
    const last = this.lastTerm.get(key);
    if (last !== undefined && s.term < last)
      this.violations.push({ kind: 'term-decreased', node: s.id, from: last, to: s.term });
    this.lastTerm.set(key, Math.max(last ?? 0, s.term));
    if (s.appliedIndex > s.commitIndex)
      this.violations.push({
        kind: 'applied-above-commit',
        node: s.id,
        applied: s.appliedIndex,
        commit: s.commitIndex,
      });
  }

  result(): WhiteboxResult {
    const details: Record<string, number> = { samples: this.samples, terms: this.leaders.size };
    for (const v of this.violations) details[v.kind] = (details[v.kind] ?? 0) + 1;
    return {
      valid: this.violations.length === 0,
      count: this.violations.length,
      details,
      examples: this.violations.slice(0, 5),
    };
  }
}
