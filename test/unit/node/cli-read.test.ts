// Read commands render any task (issue 17): JSON when the payload decodes, `<N bytes, codec X>`
// otherwise (base64 with --raw), ISO-8601 times (epoch ms under --json), results, errors and the
// attempt history. One odd task never breaks a listing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import type { ClientServer } from '../../../src/rpc/client-server.js';
import { latch, runCli, startServer } from './cli-harness.js';

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
const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/;

describe('tasks list / get with odd payloads', () => {
  let bigint = '';
  let garbage = '';
  let binary = '';
  let plain = '';
  let broken = '';

  beforeAll(async () => {
    const q = client.queue('odd');
    bigint = (await q.enqueue({ n: 2n ** 60n })).id;
    // Bytes no codec can read, without a codec header (as a foreign producer might send).
    const { reply } = await client.command({
      type: 'enqueue',
      queue: 'odd',
      tasks: [{ payload: new Uint8Array([0x92, 0x01]) }],
    });
    garbage = String((reply['items'] as Array<{ id: string }>)[0]?.id);
    // A gzip header over bytes that are not gzip: nothing can decode it.
    const bad = await client.command({
      type: 'enqueue',
      queue: 'odd',
      tasks: [{ payload: new Uint8Array([1, 2, 3]), headers: { 'raftq-compression': 'gzip' } }],
    });
    broken = String((bad.reply['items'] as Array<{ id: string }>)[0]?.id);
    binary = (await q.enqueue(new Uint8Array([0, 159, 146, 150]))).id;
    plain = (await q.enqueue({ to: 'a@example.org' })).id;
  });

  it('tasks list renders every task of the queue', async () => {
    const r = await runCli(['tasks', 'list', 'odd', ...S()]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+QUEUE\s+STATE\s+PRIORITY\s+ATTEMPTS\s+ENQUEUED/);
    const row = (id: string): string => lines.find((l) => l.startsWith(`${id} `)) ?? '';
    expect(row(bigint)).toContain('{"n":"1152921504606846976"}');
    expect(row(garbage)).toContain('<2 bytes, codec none>');
    expect(row(broken)).toContain('<3 bytes, codec msgpack+gzip>');
    expect(row(binary)).toContain('<4 bytes, codec raw>');
    expect(row(plain)).toContain('{"to":"a@example.org"}');
    expect(row(plain)).toMatch(ISO);
  });

  it('--raw shows the stored bytes as base64; --json has epoch ms and the payload error', async () => {
    const raw = await runCli(['tasks', 'list', 'odd', '--raw', ...S()]);
    expect(raw.code, raw.err).toBe(0);
    expect(raw.out).toContain(Buffer.from([0, 159, 146, 150]).toString('base64'));
    const j = await runCli(['tasks', 'list', 'odd', '--json', ...S()]);
    expect(j.code, j.err).toBe(0);
    const items = (JSON.parse(j.out) as { items: Array<Record<string, unknown>> }).items;
    const g = items.find((t) => t['id'] === broken) as Record<string, unknown>;
    expect(g['payload']).toBeNull();
    expect(g['payloadError']).toBeTypeOf('string');
    expect(g['enqueuedAt']).toBeTypeOf('number');
    expect(Math.abs((g['enqueuedAt'] as number) - Date.now())).toBeLessThan(60_000);
  });

  it('tasks get shows the payload, ISO times, and with --state all every state is listed', async () => {
    const g = await runCli(['tasks', 'get', bigint, ...S()]);
    expect(g.code, g.err).toBe(0);
    expect(g.out).toMatch(/^payload:\s+\{"n":"1152921504606846976"\}$/m);
    expect(g.out).toMatch(new RegExp(`^enqueued:\\s+${ISO.source} \\(log entry #\\d+ term \\d+\\)$`, 'm'));
    await client.queue('odd').cancel(plain);
    const all = await runCli(['tasks', 'list', 'odd', '--state', 'all', '--json', ...S()]);
    expect(all.code, all.err).toBe(0);
    const states = (JSON.parse(all.out) as { items: Array<{ id: string; state: string }> }).items;
    expect(states.find((t) => t.id === plain)?.state).toBe('cancelled');
    expect(states).toHaveLength(5);
  });
});

describe('tasks get after attempts', () => {
  it('shows the result, the last error and the attempt history', async () => {
    await client
      .queue('hist')
      .create({ maxAttempts: 2, backoff: { type: 'fixed', delayMs: 0, maxDelayMs: 0, jitterPct: 0 } });
    const { id } = await client.queue('hist').enqueue({ k: 1 });
    const stop = latch();
    const script = 'if [ "$RAFTQ_ATTEMPT" = 1 ]; then echo boom >&2; exit 4; fi; echo \'{"ok":1}\'';
    const w = await runCli(
      ['worker', 'hist', '--exec', script, '--result', 'json', '--json', ...S()],
      stop.promise,
      (out) => {
        if (out.includes('"completed"')) stop.open();
      },
    );
    expect(w.code, w.err).toBe(0);
    const g = await runCli(['tasks', 'get', id, ...S()]);
    expect(g.code, g.err).toBe(0);
    expect(g.out).toMatch(/^state:\s+completed/m);
    expect(g.out).toMatch(/^result:\s+\{"ok":1\}$/m);
    expect(g.out).toMatch(/^history:$/m);
    expect(g.out).toMatch(new RegExp(`nacked\\s+${ISO.source}\\s+#\\d+ term \\d+\\s+exit code 4: boom`));
    // `tasks show` is `tasks get`.
    const j = JSON.parse((await runCli(['tasks', 'show', id, '--json', ...S()])).out) as {
      enqueuedIndex: number;
      enqueuedTerm: number;
      endedIndex: number;
      endedTerm: number;
      history: Array<{ end: string; leasedAt: number; error: string | null } & Record<string, number | null>>;
    };
    expect(j.history.map((a) => a.end)).toEqual(['nacked', 'acked']);
    expect(j.history[0]?.leasedAt).toBeTypeOf('number');
    // The task's story: the log entry of each step, in log order, each with the term it was written in.
    const steps = [
      [j.enqueuedIndex, j.enqueuedTerm],
      ...j.history.flatMap((a) => [
        [a['leasedIndex'], a['leasedTerm']],
        [a['endedIndex'], a['endedTerm']],
      ]),
    ];
    expect(steps.at(-1)).toEqual([j.endedIndex, j.endedTerm]);
    for (const [index, term] of steps) expect([index, term].every((n) => typeof n === 'number' && n > 0)).toBe(true);
    // Each step its own entry, in log order (the ack's entry also ended the task).
    const order = steps.map(([index]) => index as number);
    expect(order).toEqual([...new Set(order)].sort((a, b) => a - b));
    expect(g.out).toMatch(
      new RegExp(`^ended:\\s+${ISO.source} \\(log entry #${j.endedIndex} term ${j.endedTerm}\\)$`, 'm'),
    );
    // The whole story (issue 15), steps recorded beside the attempts included: the retry after the
    // failed attempt, at the nack's entry, with its time; in the JSON too.
    const story = (j as unknown as { story: Array<{ kind: string; index: number; term: number; at: number }> }).story;
    expect(story.map((x) => x.kind)).toEqual([
      'enqueued',
      'leased',
      'attempt_ended',
      'retry',
      'leased',
      'attempt_ended',
      'ended',
    ]);
    expect(story[3]?.index).toBe(story[2]?.index);
    expect(story.every((x) => typeof x.at === 'number' && x.term > 0)).toBe(true);
    expect(g.out).toMatch(/^story:$/m);
    expect(g.out).toMatch(
      new RegExp(`#${story[3]?.index} term \\d+\\s+${ISO.source}\\s+retry: at once; 1 of 2 attempts failed`),
    );
  });
});
