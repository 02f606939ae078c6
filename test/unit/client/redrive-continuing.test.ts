// The redrive reply's `continuing` flag end to end (SDK and CLI over real gRPC to an in-process
// client service on a real state machine): true when a redrive without ids goes on as a job in
// later entries (more tasks than adminTasksPerEntryMax to visit), false when it ends in its entry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import type { Command } from '../../../src/protocol/commands.js';
import { ClientServer } from '../../../src/rpc/client-server.js';
import { runCli } from '../node/cli-harness.js';
import { MachineExecutor } from './machine-executor.js';

const CAP = 4;
let executor: MachineExecutor;
let server: ClientServer;
let client: Client;

beforeAll(async () => {
  executor = new MachineExecutor('n1', '127.0.0.1:0', undefined, { limits: { adminTasksPerEntryMax: CAP } });
  server = await ClientServer.start({ address: '127.0.0.1:0', executor });
  client = new Client({ servers: [server.address], timeoutMs: 5_000 });
});
afterAll(async () => {
  await client.close({ timeoutMs: 0 });
  await server.close();
});

function apply(cmd: Command): unknown {
  const [answer] = executor.applyNow([{ session: null, seq: 0, cmd }]).answers;
  if (answer === undefined || !answer.ok) throw new Error(JSON.stringify(answer));
  return answer.value;
}

/** `n` dead tasks in `queue` (lease, then nack with dead: true). */
function deadTasks(queue: string, n: number): void {
  apply({
    type: 'enqueue',
    queue,
    tasks: Array.from({ length: n }, () => ({ payload: new Uint8Array([1]) })),
  } as never);
  const { tasks } = apply({ type: 'lease', queue, workerId: 'w', max: n } as never) as {
    tasks: { id: string; token: string }[];
  };
  for (const t of tasks) apply({ type: 'nack', id: t.id, token: t.token, error: 'x', dead: true } as never);
}

describe('redrive reply: continuing', () => {
  it('is true for a redrive of more tasks than one entry visits, false for a small one (SDK)', async () => {
    deadTasks('big', 3 * CAP);
    const big = await client.queue('big').redrive();
    expect(big.continuing).toBe(true);
    expect(big).toHaveLength(CAP); // what its own entry moved; the rest follows
    deadTasks('small', CAP - 1);
    const small = await client.queue('small').redrive();
    expect(small.continuing).toBe(false);
    expect([...small]).toHaveLength(CAP - 1);
  });

  it('raftq dlq redrive --json prints it, and the text says the rest continues', async () => {
    deadTasks('cli-big', 2 * CAP);
    const S = ['--servers', server.address];
    const json = JSON.parse((await runCli(['dlq', 'redrive', 'cli-big', '--json', ...S])).out) as {
      ids: string[];
      continuing: boolean;
    };
    expect(json).toMatchObject({ continuing: true });
    expect(json.ids).toHaveLength(CAP);
    deadTasks('cli-small', 2);
    const text = await runCli(['dlq', 'redrive', 'cli-small', ...S]);
    expect(text.out).not.toMatch(/continue/);
    // Again: the walk passes the tasks already moved, more than one entry visits, so it too goes on.
    const again = await runCli(['dlq', 'redrive', 'cli-big', ...S]);
    expect(again.out).toMatch(/^0 redriven; more continue in the background/);
    expect(again.err).toBe(''); // no "nothing to redrive" hint while it continues
  });
});
