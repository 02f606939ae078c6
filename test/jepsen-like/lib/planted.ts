// Planted bugs (docs/faults.md §1.4.5): the suite must catch each of these. None is a switch in the
// production code: `ack-before-fsync` uses the test-only storage fault layer's drop-sync mode, and
// the state-machine bugs run a patched private copy of dist/ made here, in the run folder.
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { LocalCluster } from '../../../src/node/local-cluster.js';
import type { ClusterFactory } from './cluster.js';

export const plantNames = [
  'ack-before-fsync',
  'wall-clock-lease',
  'no-token-check',
  'mono-drift',
  'gc-deletes-live-entry',
] as const;
export type PlantName = (typeof plantNames)[number];

export interface Plant {
  name: PlantName;
  /** RAFTQ_TEST_DISK_FAULT_MODE for the nodes. */
  storageFaults: string;
  /** The fault schedule that exposes it when the run names none. */
  defaultSpec: { nemesis?: string; schedule?: string };
  /** The check expected to fire. */
  caughtBy: string;
  /** Text replacements [file, from, to] in dist/src/statemachine/<file>, or dist/src/<file> for a path (each must match). */
  patches?: [string, string, string][];
  /** Leader mono clock rate, beyond ρmax (docs/design.md §2). */
  leaderMonoRate?: number;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export const plants: Record<PlantName, Plant> = {
  // The node acknowledges writes whose fsync it skipped; a power loss of every node loses them.
  'ack-before-fsync': {
    name: 'ack-before-fsync',
    storageFaults: 'drop-sync',
    defaultSpec: { schedule: 'C3' },
    caughtBy: 'lost / noAckLost / agreement',
  },
  // Leases expire by the leader's wall clock: a forward wall jump ends them early.
  'wall-clock-lease': {
    name: 'wall-clock-lease',
    storageFaults: '1',
    defaultSpec: { nemesis: 'clock' },
    caughtBy: 'exclusive',
    patches: [
      ['lease.js', 'st.mono + leaseMs;', 'st.wall + leaseMs;'],
      [
        'time.js',
        'for (let t = st.leaseHeap.peek(); budget > 0 && t !== undefined && t.dueMono <= st.mono;',
        'for (let t = st.leaseHeap.peek(); budget > 0 && t !== undefined && t.dueMono <= st.wall;',
      ],
      [
        'lease.js',
        "if (t.dueMono <= st.mono)\n        return err('LEASE_LOST'",
        "if (t.dueMono <= st.wall)\n        return err('LEASE_LOST'",
      ],
    ],
  },
  // An ack (nack, release, extend) is accepted for whichever lease the task holds now.
  'no-token-check': {
    name: 'no-token-check',
    storageFaults: '1',
    defaultSpec: { nemesis: 'pause' },
    caughtBy: 'staleAcksRefused / singleCompletion',
    patches: [['lease.js', 'if (t.state !== S_LEASED || t.token !== token)', 'if (t.state !== S_LEASED)']],
  },
  // Not a code change: the leader's monotonic clock runs 1.5× fast, far beyond ρmax = 0.1 %.
  'mono-drift': {
    name: 'mono-drift',
    storageFaults: '1',
    defaultSpec: { nemesis: 'clock' },
    caughtBy: 'exclusive',
    leaderMonoRate: 1.5,
  },
  // The log's garbage collection, which runs behind a compaction while the log is written, deletes
  // the first entry the log still holds: a node restarted after a snapshot misses a committed entry.
  'gc-deletes-live-entry': {
    name: 'gc-deletes-live-entry',
    storageFaults: '1',
    defaultSpec: { nemesis: 'power,snapshot' },
    caughtBy: 'lost / liveness (nodes refuse their storage)',
    patches: [['node/storage/durable-store.js', 'const end = g.firstIndex;', 'const end = g.firstIndex + 1;']],
  },
};

export function plant(name: string): Plant {
  const p = plants[name as PlantName];
  if (p === undefined) throw new Error(`unknown planted bug ${name}; known: ${plantNames.join(', ')}`);
  return p;
}

/** Where a patch's file is under a build root: a path under dist/src, or a bare name in the state machine. */
export function patchedFile(root: string, file: string): string {
  return file.includes('/') ? join(root, 'dist', 'src', file) : join(root, 'dist', 'src', 'statemachine', file);
}

/**
 * A private copy of the built package (dist/, bin/, the .proto files, node_modules linked) under
 * `dir`, with `patches` applied to its built files (patchedFile); returns a LocalCluster factory that runs it.
 * Every run uses one: other engineers rebuild the shared dist/ at any time, and nodes restarted
 * mid-run must run the code the run started with.
 */
export async function privateBuild(
  dir: string,
  patches: readonly [string, string, string][] = [],
): Promise<ClusterFactory> {
  const root = join(dir, 'build');
  mkdirSync(join(root, 'src'), { recursive: true });
  cpSync(join(repoRoot, 'dist'), join(root, 'dist'), { recursive: true });
  cpSync(join(repoRoot, 'bin'), join(root, 'bin'), { recursive: true });
  cpSync(join(repoRoot, 'src', 'protocol'), join(root, 'src', 'protocol'), { recursive: true });
  writeFileSync(join(root, 'package.json'), readFileSync(join(repoRoot, 'package.json')));
  if (!existsSync(join(root, 'node_modules'))) symlinkSync(join(repoRoot, 'node_modules'), join(root, 'node_modules'));
  for (const [file, from, to] of patches) {
    const path = patchedFile(root, file);
    const text = readFileSync(path, 'utf8');
    if (!text.includes(from)) throw new Error(`planted bug: dist/ ${file} no longer contains ${JSON.stringify(from)}`);
    writeFileSync(path, text.split(from).join(to));
  }
  const url = pathToFileURL(join(root, 'dist', 'src', 'node', 'local-cluster.js')).href;
  const mod = (await import(url)) as { LocalCluster: typeof LocalCluster };
  return (opts) => mod.LocalCluster.create(opts);
}
