// forceNewCluster on a stored data dir (test/fixtures/datadir-v1, a 1-node cluster): the log is
// kept whole, one config entry (this member alone, one term up) is appended and carries the marker;
// a wrong id and a dir without data are refused. The process-level flow is in
// test/integration/recover.test.ts.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { forceNewCluster, recoverMarkerOf } from '../../../src/node/recover.js';
import { NodeStorage } from '../../../src/node/storage/node-storage.js';
import { EntryType } from '../../../src/raft/types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function copyOfFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'raftq-recover-unit-'));
  dirs.push(dir);
  cpSync(new URL('../../fixtures/datadir-v1', import.meta.url).pathname, join(dir, 'n1'), { recursive: true });
  return join(dir, 'n1');
}

describe('forceNewCluster', () => {
  it('appends one config entry (this member alone, a term up) with the marker, and keeps the log', async () => {
    const dataDir = copyOfFixture();
    const before = await NodeStorage.open(dataDir, { create: false });
    const last = before.mirror.lastIndex();
    const first = before.mirror.firstIndex();
    const hs = before.mirror.hardState();
    await before.close();

    const r = await forceNewCluster({ dataDir, id: 'n1', now: new Date('2026-12-02T00:00:00Z') });
    expect(r).toMatchObject({
      node: 'n1',
      lastIndex: last,
      markerIndex: last + 1,
      removed: [],
      knownCommit: hs.commit,
    });
    expect(r.markerTerm).toBeGreaterThan(Math.max(hs.term, r.lastTerm));

    const after = await NodeStorage.open(dataDir, { create: false });
    try {
      expect([after.mirror.firstIndex(), after.mirror.lastIndex()]).toEqual([first, last + 1]);
      const [e] = after.mirror.entries(last + 1, last + 2, Number.MAX_SAFE_INTEGER);
      expect(e?.type).toBe(EntryType.Config);
      expect(e?.config?.members.map((m) => [m.id, m.role, m.storageId])).toEqual([
        ['n1', 'voter', after.identity.storageId],
      ]);
      expect(recoverMarkerOf(e!)).toEqual(r);
      expect(after.mirror.hardState()).toEqual({ term: r.markerTerm, vote: null, commit: hs.commit });
      // An ordinary entry carries no marker.
      const [plain] = after.mirror.entries(last, last + 1, Number.MAX_SAFE_INTEGER);
      expect(recoverMarkerOf(plain!)).toBeNull();
    } finally {
      await after.close();
    }
  });

  it('a dry run reports the same and writes nothing', async () => {
    const dataDir = copyOfFixture();
    const now = new Date('2026-12-02T00:00:00Z');
    const dry = await forceNewCluster({ dataDir, id: 'n1', now, dryRun: true });
    const again = await forceNewCluster({ dataDir, id: 'n1', now, dryRun: true });
    expect(again).toEqual(dry); // the first wrote nothing
    expect(await forceNewCluster({ dataDir, id: 'n1', now })).toEqual(dry);
  });

  it('refuses another member id and a dir without raftq data', async () => {
    const dataDir = copyOfFixture();
    await expect(forceNewCluster({ dataDir, id: 'n2' })).rejects.toThrow(
      '--id: this data dir belongs to member n1, not n2',
    );
    const empty = join(dataDir, '..', 'empty');
    await expect(forceNewCluster({ dataDir: empty, id: 'n1' })).rejects.toThrow(
      `${empty} holds no raftq data: recover runs on a survivor's data dir`,
    );
  });
});
