// `raftq limits` (issue 13): shared limits set, listed (as a table and as JSON) and deleted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import type { ClientServer } from '../../../src/rpc/client-server.js';
import { runCli, startServer } from './cli-harness.js';

let server: ClientServer;
let client: Client;

beforeAll(async () => {
  ({ server } = await startServer());
  client = new Client({ servers: [server.address] });
});
afterAll(async () => {
  await client.close();
  await server.close();
});

const S = (): string[] => ['--servers', server.address];

describe('raftq limits', () => {
  it('sets a limit, lists it with its queues and use, refuses a delete while referenced, deletes it', async () => {
    const spec = '{"concurrency":3,"rate":{"limit":10,"intervalMs":1000},"keyLimits":{"concurrency":1}}';
    const set = await runCli(['limits', 'set', 'billing', spec, ...S()]);
    expect(set.code, set.err).toBe(0);
    expect(set.out).toBe('billing created\n');
    const again = await runCli(['limits', 'set', 'billing', spec, ...S()]);
    expect(again.out).toBe('billing replaced\n');
    const joined = await runCli(['queues', 'configure', 'inv', '{"sharedLimit":"billing"}', '--create', ...S()]);
    expect(joined.code, joined.err).toBe(0);
    await client.queue('inv').enqueueMany([{ payload: 1, key: 'acme', cost: 2 }]);
    expect(await client.queue('inv').lease({ max: 5 })).toHaveLength(1);

    const list = await runCli(['limits', 'list', ...S()]);
    expect(list.code, list.err).toBe(0);
    const lines = list.out.trim().split('\n');
    expect(lines[0]).toMatch(
      /^NAME\s+CONCURRENCY\s+RATE\s+KEY CONCURRENCY\s+KEY RATE\s+QUEUES\s+LEASED\s+IN USE\s+TOKENS\s+KEYS$/,
    );
    expect((lines[1] ?? '').split(/\s+/)).toEqual(['billing', '3', '10/1000ms', '1', '-', 'inv', '1', '2', '8', '1']);
    const json = await runCli(['limits', 'list', '--json', ...S()]);
    expect(JSON.parse(json.out)).toMatchObject([{ name: 'billing', queues: ['inv'], leased: 1, inUse: 2, tokens: 8 }]);

    const refused = await runCli(['limits', 'delete', 'billing', ...S()]);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/referenced by queues inv/);
    await client.queue('inv').configure({ sharedLimit: null });
    const del = await runCli(['limits', 'delete', 'billing', ...S()]);
    expect(del.code, del.err).toBe(0);
    expect(await client.sharedLimits.list()).toEqual([]);
  });

  it('refuses a spec that is not JSON, or names an unknown option', async () => {
    const bad = await runCli(['limits', 'set', 'x', '{nope', ...S()]);
    expect(bad.code).not.toBe(0);
    const typo = await runCli(['limits', 'set', 'x', '{"concurency":1}', ...S()]);
    expect(typo.code).not.toBe(0);
    expect(typo.err).toMatch(/concurency/);
  });
});
