// The backup file format (issue 16): a stored fixture of today's format (test/fixtures/backup-v1.rqb,
// version 1 around a raftq-sm/4 snapshot: 4 waiting tasks in queue fx, one with an idempotency key)
// must stay readable by every later raftq; a newer version, a damaged or truncated file are refused
// with a message that says which. Restoring writes the snapshot a new cluster's member starts from.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BackupError, decodeBackup, encodeBackup, restoreBackup } from '../../../src/node/backup.js';
import { NodeStorage } from '../../../src/node/storage/node-storage.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';

const FIXTURE = new URL('../../fixtures/backup-v1.rqb', import.meta.url);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'raftq-backup-'));
  dirs.push(d);
  return d;
}

describe('backup format', () => {
  it('reads the stored version-1 fixture and restores it as a new cluster member', async () => {
    const { header, payload } = decodeBackup(readFileSync(FIXTURE));
    expect(header).toMatchObject({ format: 'raftq-backup', version: 1, clusterId: 'fixture-cluster', index: 7 });
    const dataDir = join(tmp(), 'n1');
    await restoreBackup({ file: FIXTURE.pathname, dataDir, id: 'n1', peers: ['n1', 'n2', 'n3'], clusterId: 'new' });
    const ns = await NodeStorage.open(dataDir, { clusterId: 'new' });
    try {
      const snap = ns.mirror.snapshot();
      expect(snap?.meta).toMatchObject({ index: 7, term: 1 });
      expect(snap?.meta.membership.members.map((m) => [m.id, m.role, m.storageId !== ''])).toEqual([
        ['n1', 'voter', true],
        ['n2', 'voter', false],
        ['n3', 'voter', false],
      ]);
      expect(ns.mirror.hardState().commit).toBe(7);
      expect(Buffer.from(snap?.data ?? [])).toEqual(Buffer.from(payload));
      const sm = new QueueStateMachine();
      sm.restore(snap?.data ?? new Uint8Array());
      expect(sm.digest()).toBe(header.digest);
      const list = sm.read({ type: 'list', queue: 'fx', state: 'waiting' }).answer;
      expect(list.ok && (list.value as { items: unknown[] }).items.length).toBe(4);
    } finally {
      await ns.close();
    }
  });

  it('round-trips, and refuses a newer version, a damaged, truncated or foreign file', () => {
    const payload = new Uint8Array([1, 2, 3, 4]);
    const h = { clusterId: 'c', index: 5, term: 2, digest: 'd', createdAt: 'now' };
    const file = encodeBackup(h, payload);
    expect(decodeBackup(file)).toEqual({ header: expect.objectContaining({ ...h, version: 1, bytes: 4 }), payload });
    const refusal = (bytes: Uint8Array): string => {
      try {
        decodeBackup(bytes);
      } catch (e) {
        expect(e).toBeInstanceOf(BackupError);
        return (e as Error).message;
      }
      return 'accepted';
    };
    const newer = Buffer.from(file.toString('latin1').replace('"version":1', '"version":2'), 'latin1');
    expect(refusal(newer)).toBe(
      'backup format version 2 is newer than this raftq reads (1): restore it with a newer raftq',
    );
    const damaged = Buffer.from(file);
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 1) ^ 1, damaged.length - 1);
    expect(refusal(damaged)).toBe('backup checksum mismatch: the file is damaged');
    expect(refusal(file.subarray(0, file.length - 1))).toBe(
      'backup is truncated or padded: 3 payload bytes, header says 4',
    );
    expect(refusal(Buffer.from('hello\n'))).toBe('not a raftq backup (the header is not JSON)');
  });

  it('refuses a restore into a used data dir, under the old cluster id, or for an id not in --peers', async () => {
    const d = tmp();
    const file = join(d, 'b.rqb');
    const sm = new QueueStateMachine();
    writeFileSync(
      file,
      encodeBackup(
        { clusterId: 'old', index: 0, term: 0, digest: sm.digest(), createdAt: 'x' },
        Buffer.concat([...sm.snapshot()]),
      ),
    );
    const restore = (o: Partial<Parameters<typeof restoreBackup>[0]>) =>
      restoreBackup({ file, dataDir: join(d, 'n1'), id: 'n1', peers: ['n1'], clusterId: 'new', ...o });
    await expect(restore({ clusterId: 'old' })).rejects.toThrow(/is the backed-up cluster's id/);
    await expect(restore({ id: 'n9' })).rejects.toThrow('--id: "n9" is not among --peers');
    await expect(restore({ dataDir: d })).rejects.toThrow(/is not empty; restore only into a new, empty data dir/);
  });
});
