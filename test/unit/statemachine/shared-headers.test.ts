// Shared header objects (state.ts sharedHeaders): tasks enqueued with the same small headers hold one
// object; any difference in a key or a value keeps them apart, and what a task reads back is always its
// own headers. (The log's codec sorts keys, so the order a producer used never reaches the machine.)
import { describe, expect, it } from 'vitest';
import { Driver } from './harness.js';

const bytes = new Uint8Array([1, 2, 3]);

function headersOf(d: Driver, id: string): Record<string, string> | undefined {
  return d.sm.state.tasks.get(Number(id))?.headers;
}

describe('statemachine - shared headers', () => {
  it('tasks with equal headers share one object; different ones do not', () => {
    const d = new Driver();
    d.run({ type: 'createQueue', queue: 'q' });
    const specs: Record<string, string>[] = [
      { 'raftq-codec': 'raw' },
      { 'raftq-codec': 'raw' },
      { 'raftq-codec': 'msgpack' },
      { 'raftq-codec': 'raw' },
      { a: '1', b: '2' },
      { a: '1', b: '3' },
      { a: '1', b: '2' },
      { a: '1', b: '2', c: '3' },
      { a: '1', b: '2' },
    ];
    const ids = specs.map((headers) => {
      const v = d.value<{ items: { id: string }[] }>({
        type: 'enqueue',
        queue: 'q',
        tasks: [{ payload: bytes, headers }],
      });
      return v.items[0]!.id;
    });
    const held = ids.map((id) => headersOf(d, id));
    held.forEach((h, i) => expect(h).toEqual(specs[i]));
    expect(held[1]).toBe(held[0]);
    expect(held[3]).toBe(held[0]);
    expect(held[2]).not.toBe(held[0]);
    expect(held[5]).not.toBe(held[4]);
    expect(held[6]).toBe(held[4]);
    expect(held[7]).not.toBe(held[4]);
    expect(held[8]).toBe(held[4]);
  });

  it('headers too long to share are kept as given, and never returned for other content', () => {
    const d = new Driver();
    d.run({ type: 'createQueue', queue: 'q' });
    const long = { k: 'x'.repeat(200) };
    const enq = (headers: Record<string, string>): string =>
      d.value<{ items: { id: string }[] }>({ type: 'enqueue', queue: 'q', tasks: [{ payload: bytes, headers }] })
        .items[0]!.id;
    const a = enq(long);
    const b = enq({ k: 'x'.repeat(200) });
    const c = enq({ k: 'y' });
    expect(headersOf(d, a)).toEqual(long);
    expect(headersOf(d, b)).toEqual(long);
    expect(headersOf(d, b)).not.toBe(headersOf(d, a));
    expect(headersOf(d, c)).toEqual({ k: 'y' });
  });
});
