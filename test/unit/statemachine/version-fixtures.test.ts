// Stored state of each state machine version (issue 16): test/fixtures/backup-v1.rqb holds a snapshot
// written before versions existed (no activeVersion: version 1), test/fixtures/backup-sm2.rqb one of
// version 2 (test/fixtures/make-sm2-fixture.ts). Every later raftq must restore both to the digest
// they were written with; a raftq capped below version 2 refuses the second with the member's message.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BackupError, decodeBackup, restoreBackup } from '../../../src/node/backup.js';
import type { TaskView } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';

const V1 = new URL('../../fixtures/backup-v1.rqb', import.meta.url);
const SM2 = new URL('../../fixtures/backup-sm2.rqb', import.meta.url);
const STOP = 'the cluster runs state machine version 2; this raftq supports up to 1: upgrade this member';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function restored(file: URL, smMax?: number): { sm: QueueStateMachine; digest: string } {
  const { header, payload } = decodeBackup(readFileSync(file));
  const sm = new QueueStateMachine(smMax === undefined ? {} : { smMax });
  sm.restore(payload);
  return { sm, digest: header.digest };
}

function enqueuedDetail(sm: QueueStateMachine, id: string): string | undefined {
  const a = sm.read({ type: 'task', id }).answer;
  if (!a.ok) throw new Error(`task ${id}: ${a.error.message}`);
  return (a.value as TaskView).story?.find((s) => s.kind === 'enqueued')?.detail;
}

describe('state machine version fixtures', () => {
  it('the snapshot written before versions restores as version 1, to its digest', () => {
    const { sm, digest } = restored(V1);
    expect(sm.activeVersion()).toBe(1);
    expect(sm.digest()).toBe(digest);
    // A replica capped at 1 (the previous release) reads it too.
    expect(restored(V1, 1).sm.digest()).toBe(digest);
  });

  it('the version-2 snapshot restores as version 2, to its digest, with its version-2 story', () => {
    const { sm, digest } = restored(SM2);
    expect(sm.activeVersion()).toBe(2);
    expect(sm.digest()).toBe(digest);
    // Task 1 was published before the activation, task 2 after.
    expect(enqueuedDetail(sm, '1')).toBeUndefined();
    expect(enqueuedDetail(sm, '2')).toBe('published to topic orders');
    // Snapshotted again and restored: the same.
    const again = new QueueStateMachine();
    again.restore([...sm.snapshot()]);
    expect(again.digest()).toBe(digest);
  });

  it('a raftq capped at version 1 refuses the version-2 state, on install and on restore', async () => {
    expect(() => restored(SM2, 1)).toThrow(STOP);
    const dir = mkdtempSync(join(tmpdir(), 'raftq-sm2-'));
    dirs.push(dir);
    const dataDir = join(dir, 'n1');
    const o = { file: SM2.pathname, dataDir, id: 'n1', peers: ['n1'], clusterId: 'new-cluster' };
    await expect(restoreBackup({ ...o, smMax: 1 })).rejects.toThrow(new BackupError(STOP));
    await expect(restoreBackup(o)).resolves.toMatchObject({
      index: 4,
      digest: decodeBackup(readFileSync(SM2)).header.digest,
    });
  });
});
