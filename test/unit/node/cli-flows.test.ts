// `raftq flows show` and `raftq topics bind|unbind|publish` against an in-process node (docs/workflows.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import type { FlowResult } from '../../../src/client/flows.js';
import type { ClientServer } from '../../../src/rpc/client-server.js';
import { runCli, startServer } from './cli-harness.js';

let server: ClientServer;
let client: Client;
const S = (): string[] => ['--servers', server.address];

beforeAll(async () => {
  ({ server } = await startServer());
  client = new Client({ servers: [server.address] });
});
afterAll(async () => {
  await client.close();
  await server.close();
});

describe('raftq flows show', () => {
  it('prints the tree under a flow root with each state, policy and reason', async () => {
    const tree = await client.flow({
      queue: 'cli-report',
      payload: 1,
      children: [
        { queue: 'cli-fetch', payload: 'a', children: [{ queue: 'cli-auth', payload: 0 }] },
        { queue: 'cli-fetch', payload: 'b', policy: 'ignore' },
      ],
    });
    const [fa, fb] = tree.children as [FlowResult, FlowResult];
    await client.queue('cli-fetch').cancel(fb.id);
    const r = await runCli(['flows', 'show', tree.id, ...S()]);
    expect(r.code).toBe(0);
    const au = fa.children[0]?.id as string;
    expect(r.out).toBe(
      [
        `${tree.id} cli-report waiting-children`,
        `├─ ${fa.id} cli-fetch waiting-children`,
        `│  └─ ${au} cli-auth waiting`,
        `└─ ${fb.id} cli-fetch cancelled [ignore] (cancelled)`,
        '',
      ].join('\n'),
    );
    const j = await runCli(['flows', 'show', tree.id, '--json', ...S()]);
    const parsed = JSON.parse(j.out) as { id: string; children: { state: string; policy: string }[] };
    expect(parsed.children.map((c) => [c.state, c.policy])).toEqual([
      ['waiting-children', 'fail'],
      ['cancelled', 'ignore'],
    ]);
  });

  it('an unknown id is a NOT_FOUND error', async () => {
    const r = await runCli(['flows', 'show', '987654', ...S()]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('NOT_FOUND');
  });
});

describe('raftq topics', () => {
  it('bind with filters, publish to the matching queues, unbind', async () => {
    expect((await runCli(['topics', 'bind', 'cli-orders', 'cli-all', ...S()])).code).toBe(0);
    const b = await runCli([
      'topics',
      'bind',
      'cli-orders',
      'cli-eu',
      '--prefix',
      'region=eu-',
      '--equals',
      'tier=gold',
      ...S(),
    ]);
    expect(b.code).toBe(0);
    const p = await runCli([
      'topics',
      'publish',
      'cli-orders',
      '{"order":1}',
      '--header',
      'region=eu-west',
      '--header',
      'tier=gold',
      '--json',
      ...S(),
    ]);
    expect(p.code).toBe(0);
    const sent = (JSON.parse(p.out) as { items: { queue: string; id: string }[] }).items;
    expect(sent.map((s) => s.queue)).toEqual(['cli-all', 'cli-eu']);
    expect((await client.queue('cli-eu').get(sent[1]?.id as string)).payload).toEqual({ order: 1 });
    const silver = await runCli(['topics', 'publish', 'cli-orders', '2', '--header', 'region=eu-west', ...S()]);
    expect(silver.out).toMatch(/^cli-all \d+\n$/);
    expect((await runCli(['topics', 'unbind', 'cli-orders', 'cli-all', ...S()])).code).toBe(0);
    const none = await runCli(['topics', 'publish', 'cli-orders', '3', ...S()]);
    expect(none.out).toBe('no queue of cli-orders matched\n');
  });

  it('a malformed --equals is a usage error naming the flag', async () => {
    const r = await runCli(['topics', 'bind', 't', 'q', '--equals', 'novalue', ...S()]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--equals');
  });
});
