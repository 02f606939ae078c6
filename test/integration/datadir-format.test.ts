// The on-disk format (issue 16): the new code starts on a stored data dir of every format it must
// read (test/fixtures/datadir-v<N>/, written by an earlier build with make-datadir-fixture.ts) and
// serves its tasks; a data dir stamped with a newer format is refused with exit 2 and a message
// naming both versions, and left untouched.
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { LocalCluster } from '../../src/node/local-cluster.js';
import { put } from '../../src/node/storage/group-log.js';
import { LevelKv } from '../../src/node/storage/kv.js';
import { FORMAT_VERSION, IDENTITY_KEY, asIdentity, decodeRecord } from '../../src/node/storage/records.js';
import { FIXTURE_CLUSTER_ID, FIXTURE_KEYS } from '../fixtures/make-datadir-fixture.js';
import { waitForLeader } from './helpers.js';
import { runRaftq, tasksByKey } from './node-helpers.js';

const fixtures = new URL('../fixtures/', import.meta.url).pathname;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f().catch(() => undefined);
});

/** A 1-node cluster (the fixture's id) whose data dir is a copy of `fixture`. */
async function onCopyOf(fixture: string): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'raftq-format-'));
  const c = await LocalCluster.create({
    nodes: 1,
    dir,
    clusterId: FIXTURE_CLUSTER_ID,
    clusterSecretFile: false,
    heartbeatMs: 50,
    electionTicks: 10,
  });
  cpSync(join(fixtures, fixture), c.spec('n1').dataDir, { recursive: true });
  cleanups.push(async () => {
    await c.stopAll(5_000);
    rmSync(dir, { recursive: true, force: true });
  });
  return c;
}

describe('data dir format', () => {
  it('a fixture exists for the current format (add one when FORMAT_VERSION changes)', () => {
    const stored = readdirSync(fixtures).filter((f) => f.startsWith('datadir-v'));
    expect(stored).toContain(`datadir-v${FORMAT_VERSION}`);
  });

  for (let v = 1; v <= FORMAT_VERSION; v++) {
    it(`starts on a stored data dir of format ${v} and serves its tasks`, async () => {
      const c = await onCopyOf(`datadir-v${v}`);
      c.startAll();
      await waitForLeader(c);
      const client = new Client({ servers: c.servers, timeoutMs: 20_000 });
      cleanups.push(() => client.close({ timeoutMs: 2_000 }));
      const waiting = await tasksByKey(client, 'fx', ['waiting']);
      const done = await tasksByKey(client, 'fx', ['completed']);
      expect([...waiting.keys(), ...done.keys()].sort()).toEqual(FIXTURE_KEYS);
      expect(done.size).toBe(1);
      expect([...waiting.values(), ...done.values()].every((ids) => ids.length === 1)).toBe(true);
      // The stored idempotency keys still deduplicate, and the node takes new writes.
      const again = await client.queue<{ k: string }>('fx').enqueue({ k: 'b' }, { idempotencyKey: 'key-b' });
      expect(again).toEqual({ id: waiting.get('b')?.[0], deduplicated: true });
      const fresh = await client.queue<{ k: string }>('fx').enqueue({ k: 'new' });
      expect(fresh.deduplicated).toBe(false);
    });
  }

  it('refuses a data dir stamped with a newer format: exit 2, both versions named, dir untouched', async () => {
    const c = await onCopyOf(`datadir-v${FORMAT_VERSION}`);
    const spec = c.spec('n1');
    const kv = await LevelKv.open(join(spec.dataDir, 'db'), { createIfMissing: false });
    const raw = await kv.get(IDENTITY_KEY);
    const decoded = raw === undefined ? null : decodeRecord(IDENTITY_KEY, raw);
    const identity = decoded?.ok ? asIdentity(decoded.payload) : null;
    expect(identity?.clusterId).toBe(FIXTURE_CLUSTER_ID);
    const newer = FORMAT_VERSION + 1;
    await kv.batch([put(IDENTITY_KEY, { ...identity, formatVersion: newer })], { sync: true });
    await kv.close();

    const r = await runRaftq(c.args(spec));
    expect([r.code, r.stderr.trim().split('\n').at(-1)]).toEqual([
      2,
      `raftq: data-dir: ${spec.dataDir} holds data format version ${newer}, newer than this raftq supports (versions 1 to ${FORMAT_VERSION}): it was written by a newer raftq; run that release (or newer) on it`,
    ]);
    // Refused before anything was written: the identity still says the newer version.
    const after = await LevelKv.open(join(spec.dataDir, 'db'), { createIfMissing: false });
    const back = decodeRecord(IDENTITY_KEY, (await after.get(IDENTITY_KEY)) as Uint8Array);
    await after.close();
    expect(back.ok && asIdentity(back.payload)?.formatVersion).toBe(newer);
  });
});
