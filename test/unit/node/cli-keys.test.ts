// `raftq keys QUEUE` (issue 13): usage and limits per limit key, as a table and as JSON, paged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import type { ClientServer } from '../../../src/rpc/client-server.js';
import { runCli, startServer } from './cli-harness.js';

let server: ClientServer;
let client: Client;

beforeAll(async () => {
  ({ server } = await startServer());
  client = new Client({ servers: [server.address] });
  const q = client.queue('exports');
  await q.create({
    keyLimits: { concurrency: 3, rate: { limit: 100, intervalMs: 60_000 } },
    keys: { acme: { weight: 4 } },
  });
  await q.enqueueMany([
    { payload: 1, key: 'acme', cost: 2 },
    { payload: 2, key: 'acme', cost: 2 },
    { payload: 3, key: 'globex' },
  ]);
  // acme: one task of cost 2 leased (the second would pass its concurrency of 3); globex: leased,
  // then released as rate limited for a minute.
  const leased = await q.lease({ max: 10 });
  const globex = leased.find((l) => l.key === 'globex');
  if (globex === undefined) throw new Error('globex not leased');
  await client.command({ type: 'release', id: globex.id, token: globex.token, holdMs: 60_000 });
});
afterAll(async () => {
  await client.close();
  await server.close();
});

const S = (): string[] => ['--servers', server.address];

describe('raftq keys', () => {
  it('prints one row per key: leased, cost in use, waiting, weight, concurrency, tokens, hold', async () => {
    const r = await runCli(['keys', 'exports', ...S()]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^KEY\s+LEASED\s+IN USE\s+WAITING\s+WEIGHT\s+CONCURRENCY\s+TOKENS\s+HELD MS$/);
    const row = (k: string): string[] => (lines.find((l) => l.startsWith(`${k} `)) ?? '').split(/\s+/);
    expect(row('acme')).toEqual(['acme', '1', '2', '1', '4', '3', '98', '-']);
    const globex = row('globex');
    expect(globex.slice(0, 7)).toEqual(['globex', '0', '0', '1', '1', '3', '99']);
    expect(Number(globex[7])).toBeGreaterThan(50_000);
    expect(Number(globex[7])).toBeLessThanOrEqual(60_000);
    expect(row('(none)').slice(0, 4)).toEqual(['(none)', '0', '0', '0']);
  });

  it('--json gives the page with its asOf; --limit pages with a cursor', async () => {
    const json = await runCli(['keys', 'exports', '--json', ...S()]);
    expect(json.code, json.err).toBe(0);
    const page = JSON.parse(json.out) as { items: Array<{ key: string; inUse: number }>; nextCursor: null };
    expect(page.items.map((k) => [k.key, k.inUse])).toEqual([
      ['', 0],
      ['acme', 2],
      ['globex', 0],
    ]);
    expect(page.nextCursor).toBeNull();
    const first = await runCli(['keys', 'exports', '--limit', '2', ...S()]);
    expect(first.out).toContain('more: --cursor acme');
    const next = await runCli(['keys', 'exports', '--cursor', 'acme', ...S()]);
    expect(
      next.out
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(['globex']);
  });

  it('a queue that does not exist exits 1 with NOT_FOUND; a bad --limit exits 2', async () => {
    const missing = await runCli(['keys', 'nope', ...S()]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('NOT_FOUND');
    const bad = await runCli(['keys', 'exports', '--limit', '0', ...S()]);
    expect(bad.code).toBe(2);
  });
});

describe('raftq enqueue with limit options', () => {
  it('--key, --cost and --id reach the task; the same --id returns the first task', async () => {
    const first = await runCli([
      'enqueue',
      'exports',
      '{"n":1}',
      '--key',
      'initech',
      '--cost',
      '3',
      '--id',
      'inv-1',
      ...S(),
    ]);
    expect(first.code, first.err).toBe(0);
    const id = first.out.trim();
    const again = await runCli(['enqueue', 'exports', '{"n":2}', '--id', 'inv-1', ...S()]);
    expect(again.out.trim()).toBe(`${id} (deduplicated)`);
    const t = await client.queue('exports').get(id);
    expect([t.key, t.cost]).toEqual(['initech', 3]);
    expect((await runCli(['enqueue', 'exports', '{}', '--cost', '0', ...S()])).code).toBe(2);
  });
});
