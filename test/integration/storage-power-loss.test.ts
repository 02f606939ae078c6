// Power loss of a real process (docs/faults.md F6): a child persists and acknowledges entries; SIGUSR2 makes
// its fault layer drop every unsynced write and SIGKILL the process. Nothing acknowledged may be
// missing after recovery, and the same check must fail when the group commit loses `sync: true`.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DurableStore } from '../../src/node/storage/durable-store.js';

const CHILD = join(import.meta.dirname, 'storage-power-loss-child.ts');
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** Runs the child until it acknowledged `acksMin` entries, cuts its power, waits for it to die. */
async function runAndPowerFail(dir: string, mode: string, acksMin: number): Promise<number[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], {
    env: { ...process.env, RAFTQ_TEST_DISK_FAULT_MODE: mode },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const acked: number[] = [];
  let buffered = '';
  let signalled = false;
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000);
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('ack ')) acked.push(Number(line.slice(4)));
    if (!signalled && acked.length >= acksMin) {
      signalled = true;
      child.kill('SIGUSR2');
    }
  });
  const signal = await exited;
  clearTimeout(deadline);
  expect(signalled).toBe(true);
  expect(signal).toBe('SIGKILL');
  return acked;
}

async function lostAfterRecovery(dir: string, acked: number[]): Promise<number[]> {
  const store = await DurableStore.open(dir, { clusterId: 'power-loss' });
  try {
    const recovered = await store.recover();
    const present = new Set<number>(recovered.entries.map((e) => e.index));
    return acked.filter((index) => !present.has(index));
  } finally {
    await store.close();
  }
}

describe('storage - power loss of a real process', () => {
  it('loses no acknowledged write', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'raftq-power-'));
    dirs.push(dir);
    const acked = await runAndPowerFail(dir, 'power-loss', 200);
    expect(acked.length).toBeGreaterThanOrEqual(200);
    expect(await lostAfterRecovery(dir, acked)).toEqual([]);
  });

  it('the same check fails when the group commit omits sync: true', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'raftq-power-'));
    dirs.push(dir);
    const acked = await runAndPowerFail(dir, 'drop-sync', 200);
    const lost = await lostAfterRecovery(dir, acked);
    expect(lost.length).toBeGreaterThan(0);
    expect(lost).toEqual(acked); // nothing was ever synced, so every acknowledged write is gone
  });
});
