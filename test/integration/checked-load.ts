// A producer / worker load whose every call is recorded as a history and judged by the history
// checker (src/checker, docs/faults.md §1.3): the jepsen-like workload (test/jepsen-like/lib/
// workload.ts: enqueues with and without idempotency keys and FIFO groups, leases with their fencing
// tokens and believed-held intervals, acks, nacks, releases, extends, abandoned leases, late acks)
// over a LocalCluster whose faults the test itself makes (membership changes, kills, wipes). At the
// end: drain, the final read of every task through each node alone at one commit index, the nodes'
// (index, digest) pairs, and checkAll. The test fails on any violation, not only on counts.
import {
  checkAll,
  HistoryRecorder,
  summary,
  type DigestPoint,
  type FinalTask,
  type Minimums,
  type Op,
  type Verdict,
} from '../../src/checker/index.js';
import type { LocalCluster } from '../../src/node/local-cluster.js';
import { Rng } from '../jepsen-like/lib/rng.js';
import { Workload } from '../jepsen-like/lib/workload.js';
import { httpJson, statusOf, waitFor } from './helpers.js';

export interface CheckedLoadOptions {
  queue: string;
  seed: number;
  producers?: number;
  workers?: number;
}

export class CheckedLoad {
  readonly recorder = new HistoryRecorder();
  private readonly workload: Workload;
  private verdict: Verdict | null = null;

  private constructor(servers: string[], o: CheckedLoadOptions) {
    this.workload = new Workload({
      servers,
      recorder: this.recorder,
      rng: new Rng(o.seed),
      queue: o.queue,
      producers: o.producers ?? 2,
      workers: o.workers ?? 5,
    });
  }

  /** Creates the queue and starts producers and workers. */
  static async start(servers: string[], o: CheckedLoadOptions): Promise<CheckedLoad> {
    const l = new CheckedLoad(servers, o);
    await l.workload.setup(30_000);
    l.workload.start();
    return l;
  }

  /** Stops producers and workers without a verdict (a test that failed before finish). */
  async stop(): Promise<void> {
    await this.workload.stop();
  }

  /** Enqueues acknowledged so far (ok enqueue ops). */
  get acknowledged(): number {
    return this.recorder.ops().filter((op) => op.f === 'enqueue' && op.type === 'ok').length;
  }

  /** Resolves once `n` more enqueues and `n / 2` more acks were acknowledged (the load makes progress). */
  async progress(n: number, ms = 30_000): Promise<void> {
    const count = (f: string): number => this.recorder.ops().filter((op) => op.f === f && op.type === 'ok').length;
    const [e, a] = [count('enqueue') + n, count('ack') + Math.ceil(n / 2)];
    await waitFor(
      () => (count('enqueue') >= e && count('ack') >= a ? true : undefined),
      ms,
      `${n} more acknowledged enqueues and ${Math.ceil(n / 2)} more acks`,
    );
  }

  /**
   * Drains and stops the load, reads every task through each of `nodes` at one commit index, and
   * judges the history. The verdict's status is 'pass' only if every check holds and the minimums
   * (by default 50 ok calls, 20 completed tasks, one digest compared) were reached.
   */
  async finish(c: LocalCluster, nodes: string[], minimums: Minimums = {}): Promise<Verdict> {
    await this.workload.drain(60_000);
    await this.workload.stop();
    for (const [id, tasks] of await this.readAtOneIndex(c, nodes)) {
      const op = this.recorder.invoke(`reader-${id}`, 'read', null, id);
      if (typeof tasks === 'string') op.info('READ_FAILED', null);
      else op.ok({ tasks });
    }
    const digests: Record<string, DigestPoint[]> = {};
    for (const id of nodes) digests[id] = await httpJson<DigestPoint[]>(c.spec(id).httpPort, '/debug/digests');
    this.recorder.finish({ nodes, digests });
    this.verdict = checkAll(this.recorder.ops(), this.recorder.final(), {
      minimums: { ok: 50, completed: 20, digestComparisons: 1, ...minimums },
      compareTaskIds: (a, b) => Number(a) - Number(b),
    });
    return this.verdict;
  }

  /**
   * The same history judged again with one acknowledged completion undone in `node`'s final read
   * (the task shown waiting again, as if the ack was lost in a membership change): the checker must
   * find it, so a passing verdict above is evidence, not a check that cannot fail.
   */
  verdictWithAckUndone(node: string): Verdict {
    let undone = false;
    const ops = this.recorder.ops().map((op): Op => {
      if (op.f !== 'read' || op.type !== 'ok' || op.node !== node || op.value === null) return op;
      const tasks = op.value.tasks.map((t) => {
        if (undone || t.state !== 'completed') return t;
        undone = true;
        return { ...t, state: 'waiting' as const };
      });
      return { ...op, value: { ...op.value, tasks } };
    });
    if (!undone) throw new Error(`no completed task in ${node}'s final read`);
    return checkAll(ops, this.recorder.final(), { compareTaskIds: (a, b) => Number(a) - Number(b) });
  }

  /** The verdict as text, with the history's size: the failure message of a test. */
  report(): string {
    return this.verdict === null ? 'not finished' : summary(this.verdict);
  }

  /**
   * The nodes' reads must show one state (the checker compares them): every node has applied the
   * leader's commit index before the reads and still has after them, else read again.
   */
  private async readAtOneIndex(c: LocalCluster, nodes: string[]): Promise<[string, FinalTask[] | string][]> {
    let reads: [string, FinalTask[] | string][] = [];
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const index = await waitFor(
        async () => {
          const st = await Promise.all(nodes.map((id) => statusOf(c, id)));
          const commit = st.find((s) => s?.role === 'leader')?.commitIndex;
          if (commit === undefined) return undefined;
          return st.every((s) => s !== null && s.appliedIndex === commit && s.commitIndex === commit)
            ? commit
            : undefined;
        },
        30_000,
        `${nodes.join(', ')} to apply one commit index`,
      );
      reads = await Promise.all(
        nodes.map(async (id): Promise<[string, FinalTask[] | string]> => [
          id,
          await this.workload.readAll(id, `127.0.0.1:${c.spec(id).clientPort}`),
        ]),
      );
      const after = await Promise.all(nodes.map((id) => statusOf(c, id)));
      if (after.every((s) => s !== null && s.appliedIndex === index)) return reads;
    }
    return reads;
  }
}
