// Shared cluster fixtures for integration tests with real node processes: start a cluster, open
// clients on it, and tear everything down after the test (or the file), whatever the test did to
// the nodes (stopped with SIGSTOP included). Node processes are ended by PID, data dirs removed.
import { afterAll, afterEach, beforeAll } from 'vitest';
import { Client } from '../../src/client/index.js';
import type { LocalClusterOptions } from '../../src/node/local-cluster.js';
import { startCluster, waitForLeader, type TestCluster } from '../integration/helpers.js';

export type { TestCluster } from '../integration/helpers.js';

interface Closable {
  close(options?: { timeoutMs?: number }): Promise<void> | void;
}

export interface ClusterFixture {
  /** Starts this test's cluster; it is torn down after the test. */
  start(nodes: number, opts?: Partial<LocalClusterOptions>): Promise<TestCluster>;
  /** The running cluster (throws before `start`). */
  readonly tc: TestCluster;
  /** A client on every node of the cluster (or on `servers`), closed after the test. */
  client(opts?: { servers?: string[]; timeoutMs?: number }): Client;
  /** Closes `c` after the test (before the cluster goes). */
  track<T extends Closable>(c: T): T;
}

function fixture(): ClusterFixture & { teardown(): Promise<void> } {
  let current: TestCluster | null = null;
  const opened: Closable[] = [];
  return {
    async start(nodes, opts = {}) {
      if (current !== null) throw new Error('cluster fixture: already started');
      current = await startCluster(nodes, opts);
      return current;
    },
    get tc(): TestCluster {
      if (current === null) throw new Error('cluster fixture: not started');
      return current;
    },
    client(opts = {}) {
      const servers = opts.servers ?? this.tc.cluster.servers;
      return this.track(new Client({ servers, timeoutMs: opts.timeoutMs ?? 20_000 }));
    },
    track(c) {
      opened.push(c);
      return c;
    },
    async teardown() {
      for (const c of opened.splice(0)) await Promise.resolve(c.close({ timeoutMs: 2_000 })).catch(() => undefined);
      const tc = current;
      current = null;
      if (tc === null) return;
      // A node left stopped would not see SIGTERM: wake it first.
      for (const s of tc.cluster.specs) if (tc.cluster.running(s.id)) await tc.cluster.signal(s.id, 'SIGCONT');
      await tc.cleanup();
    },
  };
}

/** A fresh cluster per test: call `start` in the test; teardown runs after each test. */
export function clusterPerTest(): ClusterFixture {
  const fx = fixture();
  afterEach(() => fx.teardown());
  return fx;
}

/** One cluster for the whole file, started (with a leader elected) before the first test. */
export function clusterPerFile(
  nodes: number,
  opts: Partial<LocalClusterOptions> = {},
): ClusterFixture & { readonly leader: string } {
  const fx = fixture();
  let leader = '';
  beforeAll(async () => {
    await fx.start(nodes, opts);
    leader = await waitForLeader(fx.tc.cluster);
  }, 60_000);
  afterAll(() => fx.teardown());
  return Object.defineProperty(fx, 'leader', { get: () => leader }) as unknown as ClusterFixture & {
    readonly leader: string;
  };
}
