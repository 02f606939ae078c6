// `raftq worker --exec` (issue 17): work that succeeded is never run again, whatever it printed;
// a payload JSON cannot show still reaches the command (as bytes); no child outlives its task.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { liveChildren } from '../../../src/node/cli-exec.js';
import type { ClientServer } from '../../../src/rpc/client-server.js';
import { latch, runCli, startServer } from './cli-harness.js';

let server: ClientServer;
let dir = '';

beforeAll(async () => {
  ({ server } = await startServer());
  dir = mkdtempSync(join(tmpdir(), 'raftq-exec-'));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const S = (): string[] => ['--servers', server.address];

/** Running (a killed process its parent has not reaped yet is a zombie: not alive). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

async function enqueue(queue: string, payload: string): Promise<string> {
  const r = await runCli(['enqueue', queue, payload, '--json', ...S()]);
  expect(r.code, r.err).toBe(0);
  return (JSON.parse(r.out) as { id: string }).id;
}

/** Runs a worker until `events` completed/failed lines were printed; returns its run. */
async function work(queue: string, exec: string, extra: string[], events = 1): ReturnType<typeof runCli> {
  const stop = latch();
  return runCli(['worker', queue, '--exec', exec, '--json', ...extra, ...S()], stop.promise, (out) => {
    if (out.split('\n').filter((l) => l.includes('"event"')).length >= events) stop.open();
  });
}

async function task(id: string): Promise<Record<string, unknown>> {
  const r = await runCli(['tasks', 'get', id, '--json', ...S()]);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as Record<string, unknown>;
}

describe('worker --exec results', () => {
  it('acks a command that printed more than the result cap (default --result none), once', async () => {
    await runCli(['queues', 'configure', 'x-big', '{"maxAttempts":3}', '--create', ...S()]);
    const id = await enqueue('x-big', '{"n":1}');
    const r = await work('x-big', 'head -c 200000 /dev/zero | tr "\\0" a', []);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out.trim().split('\n')[0] as string)).toEqual({ event: 'completed', id });
    const t = await task(id);
    expect(t['state']).toBe('completed');
    expect(t['result']).toBeUndefined();
    expect(t['history']).toHaveLength(1);
  });

  it('--result stdout over the cap stores the head, flagged, with a warning; never a retry', async () => {
    await runCli(['queues', 'configure', 'x-trunc', '{"maxAttempts":3}', '--create', ...S()]);
    const id = await enqueue('x-trunc', '1');
    const r = await work('x-trunc', 'head -c 100000 /dev/zero | tr "\\0" b', ['--result', 'stdout']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/result of 100000 bytes exceeds the 65536-byte cap: stored truncated/);
    const t = await task(id);
    expect(t['state']).toBe('completed');
    const result = t['result'] as { truncated: boolean; bytes: number; stdout: string };
    expect(result.truncated).toBe(true);
    expect(result.bytes).toBe(100000);
    expect(result.stdout).toMatch(/^b{60000,65536}$/);
  });

  it('--result json stores the parsed stdout', async () => {
    const id = await enqueue('x-json', '{"a":2}');
    const r = await work('x-json', 'echo \'{"sum": 3}\'', ['--result', 'json']);
    expect(r.code, r.err).toBe(0);
    expect((await task(id))['result']).toEqual({ sum: 3 });
  });
});

describe('worker --exec children', () => {
  it('passes a payload JSON cannot show (a BigInt) as raw bytes, and leaks no child', async () => {
    const client = new Client({ servers: [server.address] });
    const { id } = await client.queue('x-bigint').enqueue({ n: 2n ** 60n });
    await client.close();
    const out = join(dir, 'bigint.bin');
    const r = await work('x-bigint', `echo $RAFTQ_PAYLOAD_FORMAT > ${out}.fmt; cat > ${out}`, []);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('"completed"');
    expect(readFileSync(`${out}.fmt`, 'utf8').trim()).toBe('raw');
    expect(readFileSync(out).byteLength).toBeGreaterThan(8);
    expect((await task(id))['state']).toBe('completed');
    expect(liveChildren()).toBe(0);
  });

  it('kills what a failed command left running in its process group', async () => {
    await runCli(['queues', 'configure', 'x-fail', '{"maxAttempts":1}', '--create', ...S()]);
    await enqueue('x-fail', '1');
    const pidFile = join(dir, 'bg.pid');
    const started = performance.now();
    const r = await work('x-fail', `sleep 120 & echo $! > ${pidFile}; exit 3`, []);
    expect(r.out).toContain('"failed"');
    // Not held up by the background child keeping the output pipe open.
    expect(performance.now() - started).toBeLessThan(10_000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    // SIGKILL is sent before the failure is reported; the kernel may take a moment to reap.
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((res) => setImmediate(res));
    expect(alive(pid)).toBe(false);
  });

  it('stops within its close timeout on shutdown, killing a command that would not finish', async () => {
    await enqueue('x-slow', '1');
    const pidFile = join(dir, 'slow.pid');
    const stop = latch();
    const started = performance.now();
    const run = runCli(
      ['worker', 'x-slow', '--exec', `echo $$ > ${pidFile}; sleep 60`, '--close-timeout-ms', '300', ...S()],
      stop.promise,
    );
    for (let i = 0; i < 2000 && !existsSync(pidFile); i++) await new Promise((res) => setTimeout(res, 5));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    stop.open();
    const r = await run;
    expect(r.code, r.err).toBe(0);
    expect(performance.now() - started).toBeLessThan(8_000);
    expect(liveChildren()).toBe(0);
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((res) => setImmediate(res));
    expect(alive(pid)).toBe(false);
  });
});
