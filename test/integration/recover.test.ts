// `raftq recover --force-new-cluster` with real processes (issue 16, docs/operations.md "Disaster
// recovery"): a 3-node cluster loses two nodes for good (killed, data dirs wiped); recover refuses
// while the survivor runs and without the confirmation flag, then makes the stopped survivor the only
// voter; started as a 1-node cluster it serves every task, and members are added back with --join
// and `raftq members add`, to 3 voters whose replicas agree.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { LocalCluster } from '../../src/node/local-cluster.js';
import type { RecoverReport } from '../../src/node/recover.js';
import { assertDigestsAgree, statusOf, waitFor, waitForLeader } from './helpers.js';
import { membershipOf, waitVoters } from './members-helpers.js';
import { runRaftq, tasksByKey, waitApplied } from './node-helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f().catch(() => undefined);
});

/** How a node starts: with every founder as --peers, alone, or alone with --join to `n1`. */
type Mode = 'founder' | 'alone' | 'join';

async function cluster(): Promise<{ c: LocalCluster; mode: Map<string, Mode>; lines: Map<string, string[]> }> {
  const dir = mkdtempSync(join(tmpdir(), 'raftq-recover-'));
  const mode = new Map<string, Mode>();
  const lines = new Map<string, string[]>();
  let self: LocalCluster | null = null;
  const c = await LocalCluster.create({
    nodes: 3,
    dir,
    logLevel: 'info',
    heartbeatMs: 50,
    electionTicks: 10,
    perNode: (spec) => {
      const m = mode.get(spec.id) ?? 'founder';
      if (m === 'founder') return {};
      const args = ['--peers', `${spec.id}=127.0.0.1:${spec.peerPort}`];
      if (m === 'join') args.push('--join', `127.0.0.1:${(self as LocalCluster).spec('n1').httpPort}`);
      return { args };
    },
    onLine: (id, line) => {
      let l = lines.get(id);
      if (!l) lines.set(id, (l = []));
      l.push(line);
    },
  });
  self = c;
  cleanups.push(async () => {
    await c.stopAll(5_000);
    rmSync(dir, { recursive: true, force: true });
  });
  return { c, mode, lines };
}

const waitLine = (lines: Map<string, string[]>, id: string, re: RegExp, ms = 30_000): Promise<string> =>
  waitFor(() => lines.get(id)?.find((l) => re.test(l)), ms, `a log line of ${id} matching ${re}`);

describe('raftq recover --force-new-cluster', () => {
  it('brings a lone survivor back as a 1-node cluster with every task, then grows back to 3', async () => {
    const ops = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    expect(ops).toContain('raftq recover --force-new-cluster --data-dir /var/lib/raftq/n1 --id n1 --confirm-data-loss');
    const { c, mode, lines } = await cluster();
    c.startAll();
    const leader = await waitForLeader(c);
    await waitFor(
      async () => ((await statusOf(c, leader))?.members.every((m) => m.address !== '') ? true : undefined),
      10_000,
      'the bootstrap membership to be bound',
    );
    const producer = new Client({ servers: c.servers, timeoutMs: 20_000 });
    const acked = new Map<string, string>();
    const q = producer.queue<{ k: string }>('rc');
    for (let i = 0; i < 30; i++) acked.set(`k${i}`, (await q.enqueue({ k: `k${i}` })).id);
    const idem = await q.enqueue({ k: 'idem' }, { idempotencyKey: 'once' });
    await producer.close({ timeoutMs: 2_000 });
    await waitApplied(c, ['n1', 'n2', 'n3'], (await statusOf(c, leader))?.commitIndex ?? 0);

    // The majority is lost for good.
    for (const id of ['n2', 'n3']) {
      await c.kill(id);
      rmSync(c.spec(id).dataDir, { recursive: true, force: true });
    }
    const dataDir = c.spec('n1').dataDir;
    const recover = (extra: string[]) =>
      runRaftq(['recover', '--force-new-cluster', '--data-dir', dataDir, '--id', 'n1', ...extra]);
    const running = await recover(['--confirm-data-loss']);
    expect([running.code, running.stderr]).toEqual([
      1,
      `raftq: recover: ${dataDir} is in use (its lock is held): the node is still running; stop it first (recover rewrites a stopped node's data dir only)\n`,
    ]);
    await c.signal('n1', 'SIGTERM');
    const unconfirmed = await recover([]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(
      /^raftq: recover: --force-new-cluster needs --confirm-data-loss: writes the lost/,
    );
    const wrongId = await runRaftq([
      'recover',
      '--force-new-cluster',
      '--data-dir',
      dataDir,
      '--id',
      'n2',
      '--confirm-data-loss',
    ]);
    expect([wrongId.code, wrongId.stderr]).toEqual([
      1,
      'raftq: recover: --id: this data dir belongs to member n1, not n2\n',
    ]);

    // A dry run (to compare survivors) needs no confirmation and changes nothing.
    const dry = await recover(['--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const planned = JSON.parse(dry.stdout) as RecoverReport;
    const done = await recover(['--confirm-data-loss', '--json']);
    expect(done.code, done.stderr).toBe(0);
    const report = JSON.parse(done.stdout) as RecoverReport;
    expect(report).toMatchObject({ node: 'n1', clusterId: c.clusterId, removed: ['n2', 'n3'] });
    expect(report.before).toEqual(['n1:voter', 'n2:voter', 'n3:voter']);
    expect(report.markerIndex).toBe(report.lastIndex + 1);
    expect({ ...planned, at: report.at }).toEqual(report);
    // The structured log line says what happened and what may be lost.
    const logLine = JSON.parse(done.stderr.trim().split('\n').at(-1) as string) as Record<string, unknown>;
    expect(logLine).toMatchObject({ level: 40, node: 'n1', markerIndex: report.markerIndex, removed: ['n2', 'n3'] });
    expect(String(logLine['msg'])).toContain('force-new-cluster');

    // Started alone, it leads a 1-voter cluster and serves every task.
    mode.set('n1', 'alone');
    c.start('n1');
    expect(await waitForLeader(c)).toBe('n1');
    expect(await membershipOf(c, 'n1')).toEqual(['n1:voter']);
    await waitLine(lines, 'n1', new RegExp(`"index":${report.markerIndex}.*membership changed`));
    const reader = new Client({ servers: [c.servers[0] as string], timeoutMs: 20_000 });
    cleanups.push(() => reader.close({ timeoutMs: 2_000 }));
    const found = await tasksByKey(reader, 'rc');
    for (const [k, id] of acked) expect(found.get(k), k).toEqual([id]);
    expect(await reader.queue<{ k: string }>('rc').enqueue({ k: 'idem' }, { idempotencyKey: 'once' })).toEqual({
      id: idem.id,
      deduplicated: true,
    });

    // Members come back (empty data dirs): n2 with --join, n3 added by hand first, then started.
    mode.set('n2', 'join');
    c.start('n2');
    await waitLine(lines, 'n2', /joined the cluster: a voter/);
    const n3 = c.spec('n3');
    const add = await runRaftq([
      'members',
      'add',
      'n3',
      '--address',
      `127.0.0.1:${n3.clientPort}`,
      '--peer-address',
      `127.0.0.1:${n3.peerPort}`,
      '--admin',
      `127.0.0.1:${c.spec('n1').httpPort}`,
    ]);
    expect(add.code, add.stderr).toBe(0);
    mode.set('n3', 'join');
    c.start('n3');
    await waitLine(lines, 'n3', /joined the cluster: a voter/);
    await waitVoters(c, ['n1', 'n2', 'n3'], ['n1', 'n2', 'n3']);
    // The marker is replicated: a member added later applies it from the log too.
    await waitLine(lines, 'n2', new RegExp(`"index":${report.markerIndex}.*membership changed`));
    const all = new Client({ servers: c.servers, timeoutMs: 20_000 });
    cleanups.push(() => all.close({ timeoutMs: 2_000 }));
    await all.queue<{ k: string }>('rc').enqueue({ k: 'after' });
    const commit = (await statusOf(c, 'n1'))?.commitIndex ?? 0;
    await waitApplied(c, ['n1', 'n2', 'n3'], commit);
    expect(await assertDigestsAgree(c, ['n1', 'n2', 'n3'])).toBeGreaterThan(0);
  });
});
