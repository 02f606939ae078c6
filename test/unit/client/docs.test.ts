// Runs every ```ts example of docs/sdk.md against an in-process node (client service over a real
// state machine): the imports from 'raftq' are bound to the SDK, the rest runs as written.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientServer } from '../../../src/rpc/client-service.js';
import { runExample, tsExamples } from '../examples.js';
import { MachineExecutor } from './machine-executor.js';

const examples = tsExamples(readFileSync(new URL('../../../docs/sdk.md', import.meta.url), 'utf8'));

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

describe('docs/sdk.md examples', () => {
  it('has examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
  });

  examples.forEach((code, i) => {
    const title = code.split('\n').find((l) => l.includes('client.queue') || l.includes('client.worker')) ?? '';
    it(`example ${i + 1}: ${title.trim().slice(0, 60)}`, async () => {
      expect((await runExample(code)).length).toBeGreaterThan(0);
    }, 15_000);
  });
});
