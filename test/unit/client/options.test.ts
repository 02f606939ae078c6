// Strict SDK options (issue 17): typos and wrong shapes are InvalidArgumentErrors naming the option
// (and the closest known name), thrown before anything is sent.
import { describe, expect, it } from 'vitest';
import { Client, InvalidArgumentError } from '../../../src/client/index.js';
import { closest } from '../../../src/client/options.js';

// Nothing listens on port 1: a check that let a call through would fail with UNAVAILABLE instead.
const client = (): Client => new Client({ servers: ['127.0.0.1:1'], timeoutMs: 200, coalesce: false });

async function refusal(f: () => unknown): Promise<InvalidArgumentError> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return e as InvalidArgumentError;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('strict SDK options', () => {
  it('refuses unknown enqueue options and queue settings, naming the closest known one', async () => {
    const c = client();
    const q = c.queue('orders');
    const e1 = await refusal(() => q.enqueue({ a: 1 }, { priorty: 5 } as never));
    expect(e1.field).toBe('options.priorty');
    expect(e1.message).toMatch(/unknown enqueue option "priorty" \(did you mean "priority"\?\)/);
    const e2 = await refusal(() => q.configure({ maxAtempts: 2 } as never));
    expect(e2.message).toMatch(
      /settings\.maxAtempts: unknown queue setting "maxAtempts" \(did you mean "maxAttempts"\?\)/,
    );
    const e3 = await refusal(() => q.create({ backoff: { typ: 'fixed' } } as never));
    expect(e3.field).toBe('settings.backoff.typ');
    const e4 = await refusal(() => q.enqueueMany([{ payload: 1, gruop: 'g' } as never]));
    expect(e4.message).toMatch(/items\[0\]\.gruop: .*did you mean "group"/);
    await c.close();
  });

  it('refuses a queue as its own dead-letter queue', async () => {
    const c = client();
    const e = await refusal(() => c.queue('orders').configure({ deadLetterQueue: 'orders' }));
    expect(e.field).toBe('settings.deadLetterQueue');
    await c.close();
  });

  it('names the option for wrong shapes instead of a TypeError from deep inside', async () => {
    expect((await refusal(() => new Client({} as never))).field).toBe('servers');
    expect((await refusal(() => new Client({ servers: 'a:1' } as never))).message).toMatch(/servers: must be a list/);
    expect((await refusal(() => new Client(undefined as never))).field).toBe('options');
    const c = client();
    const q = c.queue('orders');
    const circular: Record<string, unknown> = { a: 1 };
    circular['self'] = circular;
    expect((await refusal(() => q.enqueue(circular))).message).toMatch(/payload\.self: is circular/);
    expect((await refusal(() => q.enqueue(Symbol('x') as never))).message).toMatch(/payload: a Symbol/);
    expect((await refusal(() => q.enqueue({ deep: [{ s: Symbol('y') }] }))).message).toMatch(
      /payload\.deep\.0\.s: a Symbol/,
    );
    expect((await refusal(() => q.enqueueMany({} as never))).field).toBe('items');
    expect((await refusal(() => q.enqueue(1, { headers: { '': 'x' } }))).field).toBe('options.headers[""]');
    expect((await refusal(() => c.worker('orders', 'not a function' as never))).field).toBe('handler');
    await c.close();
  });

  it('suggests only close names', () => {
    expect(closest('maxAtempts', ['maxAttempts', 'leaseMs'])).toBe('maxAttempts');
    expect(closest('priorty', ['priority', 'group'])).toBe('priority');
    expect(closest('colour', ['priority', 'group'])).toBeUndefined();
  });
});
