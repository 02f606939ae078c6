// Backup and restore with real processes (issue 16): `raftq backup` from a 3-node cluster under
// producer load, `raftq restore` of every member of a NEW 3-node cluster (new cluster id), and there
// every task acknowledged before the backup began, the idempotency keys, and replicas that agree.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { decodeBackup } from '../../src/node/backup.js';
import { LocalCluster } from '../../src/node/local-cluster.js';
import { assertDigestsAgree, statusOf, waitForLeader } from './helpers.js';
import { Load } from './members-helpers.js';
import { runRaftq, tasksByKey, waitApplied } from './node-helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f().catch(() => undefined);
});

describe('backup and restore', () => {
  it('restores a backup taken under load into a new 3-node cluster: every task, same keys', async () => {
    const ops = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    expect(ops).toContain('raftq backup --out /backups/raftq-$(date +%F).rqb --admin $RAFTQ_ADMIN');
    expect(ops).toContain('raftq restore /backups/raftq-2026-12-02.rqb --data-dir /var/lib/raftq/n1 --id n1');
    const tc = await fx.start(3);
    const old = tc.cluster;
    await waitForLeader(old);
    const producer = fx.client();
    const idem = await producer.queue<{ k: string }>('bk').enqueue({ k: 'idem' }, { idempotencyKey: 'once' });
    const load = new Load(producer, 'bk', 2, 4_000);
    await load.progress(200);

    const before = new Map(load.acked);
    const out = join(tc.dir, 'cluster.rqb');
    const admin = old.specs.map((s) => `127.0.0.1:${s.httpPort}`).join(',');
    const b = await runRaftq(['backup', '--out', out, '--admin', admin, '--json']);
    expect(b.code, b.stderr).toBe(0);
    await load.progress(50); // writes go on after the backup
    await load.stop();
    const header = JSON.parse(b.stdout) as { index: number; digest: string; clusterId: string };
    expect(header.clusterId).toBe(old.clusterId);
    expect(decodeBackup(readFileSync(out)).header).toMatchObject(header);

    // A new cluster: other ports, dirs and cluster id; each member restored from the same file.
    const dir = mkdtempSync(join(tmpdir(), 'raftq-restore-'));
    const fresh = await LocalCluster.create({ nodes: 3, dir, logLevel: 'warn', heartbeatMs: 50, electionTicks: 10 });
    cleanups.push(async () => {
      await fresh.stopAll(5_000);
      rmSync(dir, { recursive: true, force: true });
    });
    for (const s of fresh.specs) {
      const r = await runRaftq([
        'restore',
        out,
        '--data-dir',
        s.dataDir,
        '--id',
        s.id,
        '--peers',
        fresh.peersFlag(),
        '--cluster-id',
        fresh.clusterId,
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`at index ${header.index} (digest ${header.digest})`);
    }
    fresh.startAll();
    await waitForLeader(fresh);
    const reader = new Client({ servers: fresh.servers, timeoutMs: 20_000 });
    cleanups.push(() => reader.close({ timeoutMs: 2_000 }));
    const found = await tasksByKey(reader, 'bk');
    const missing = [...before].filter(([k, id]) => found.get(k)?.length !== 1 || found.get(k)?.[0] !== id);
    expect(missing).toEqual([]);
    // Nothing that was not acknowledged by the old cluster appears, and nothing twice.
    for (const [k, ids] of found) {
      expect(ids.length, k).toBe(1);
      if (k !== 'idem') expect(load.acked.get(k), k).toBe(ids[0]);
    }
    expect(found.size).toBeGreaterThanOrEqual(before.size + 1);
    // The idempotency key survived: the same enqueue is deduplicated to the same task.
    const again = await reader.queue<{ k: string }>('bk').enqueue({ k: 'idem' }, { idempotencyKey: 'once' });
    expect(again).toEqual({ id: idem.id, deduplicated: true });
    // The new cluster's log continues above the backup's index, and its replicas agree.
    const ids = fresh.specs.map((s) => s.id);
    const commit = (await statusOf(fresh, ids[0] as string))?.commitIndex ?? 0;
    expect(commit).toBeGreaterThan(header.index);
    await waitApplied(fresh, ids, commit);
    expect(await assertDigestsAgree(fresh, ids)).toBeGreaterThan(0);
  });

  it('refuses to restore under the old cluster id, into a used data dir, or from a damaged file', async () => {
    const tc = await fx.start(1);
    await waitForLeader(tc.cluster);
    const s = tc.cluster.specs[0]!;
    const out = join(tc.dir, 'one.rqb');
    expect((await runRaftq(['backup', '--out', out, '--admin', `127.0.0.1:${s.httpPort}`])).code).toBe(0);
    const restore = (file: string, dataDir: string, clusterId: string) =>
      runRaftq([
        'restore',
        file,
        '--data-dir',
        dataDir,
        '--id',
        'n1',
        '--peers',
        'n1=127.0.0.1:1',
        '--cluster-id',
        clusterId,
      ]);
    const same = await restore(out, join(tc.dir, 'r1'), tc.cluster.clusterId);
    expect([same.code, same.stderr]).toEqual([
      1,
      `raftq: restore: --cluster-id: "${tc.cluster.clusterId}" is the backed-up cluster's id; a restore seeds a NEW cluster (choose another id) so that it can never join the old one\n`,
    ]);
    const used = await restore(out, s.dataDir, 'new-cluster');
    expect(used.stderr).toBe(
      `raftq: restore: --data-dir: ${s.dataDir} is not empty; restore only into a new, empty data dir\n`,
    );
    const bytes = readFileSync(out);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    const damaged = join(tc.dir, 'damaged.rqb');
    writeFileSync(damaged, bytes);
    const bad = await restore(damaged, join(tc.dir, 'r2'), 'new-cluster');
    expect([bad.code, bad.stderr]).toEqual([1, 'raftq: restore: backup checksum mismatch: the file is damaged\n']);
  });
});
