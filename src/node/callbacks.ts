/** A set of callbacks run together; each may remove itself (or others) while they run. */
export class Callbacks {
  private readonly set = new Set<() => void>();

  /** Adds `cb`; returns its removal. */
  add(cb: () => void): () => void {
    this.set.add(cb);
    return () => this.set.delete(cb);
  }

  run(): void {
    if (this.set.size === 0) return;
    for (const cb of [...this.set]) cb();
  }
}
