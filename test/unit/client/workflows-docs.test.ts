// Runs every ```ts example of docs/workflows.md against an in-process node (client service over a
// real state machine): a fan-in flow, a fan-out through a topic, cancelling a running task.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientServer } from '../../../src/rpc/client-service.js';
import { runExample, tsExamples } from '../examples.js';
import { MachineExecutor } from './machine-executor.js';

const examples = tsExamples(readFileSync(new URL('../../../docs/workflows.md', import.meta.url), 'utf8'));

let server: ClientServer;
const savedServers = process.env['RAFTQ_SERVERS'];

beforeAll(async () => {
  server = await ClientServer.start({ address: '127.0.0.1:0', executor: new MachineExecutor() });
  process.env['RAFTQ_SERVERS'] = server.address;
});

afterAll(async () => {
  if (savedServers === undefined) delete process.env['RAFTQ_SERVERS'];
  else process.env['RAFTQ_SERVERS'] = savedServers;
  await server.close();
});

describe('docs/workflows.md examples', () => {
  it('has the fan-in flow, the fan-out and the cancel examples', () => {
    expect(examples).toHaveLength(3);
  });

  it('a fan-in flow: the report sums what both fetches returned', async () => {
    const logs = await runExample(examples[0] as string);
    expect(String(logs[0]?.[0])).toMatch(/^report \d+ from \d+, \d+: 140$/);
  }, 15_000);

  it('a fan-out: an eu order reaches billing and shipping-eu, not the vip desk', async () => {
    const logs = await runExample(examples[1] as string);
    expect(String(logs[0]?.[0])).toMatch(/^billing:\d+ shipping-eu:\d+$/);
  }, 15_000);

  it('cancelling a running task: it ends cancelled', async () => {
    const logs = await runExample(examples[2] as string);
    expect(String(logs[0]?.[0])).toMatch(/^task \d+: cancelled \(cancelled\)$/);
  }, 15_000);
});
