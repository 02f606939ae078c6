// The driver's command pipeline: answers by index, failures by cause, and its invariant that in-flight
// indexes only grow (a violation is a bug: AssertionError, never an answer).
import { describe, expect, it } from 'vitest';
import { CommandPipeline, type PendingCommand } from '../../../src/node/command-pipeline.js';
import { AssertionError } from '../../../src/protocol/assert.js';
import type { Answer, Command } from '../../../src/protocol/index.js';
import { EntryType } from '../../../src/raft/types.js';
import { decodeEnvelope } from '../../../src/protocol/codec.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';

function cmd(out: { answer: Answer; index: number }[]): PendingCommand {
  return {
    cmd: { session: null, seq: 0, cmd: { type: 'advanceTime' } },
    deadline: 0,
    resolve: (r) => out.push(r),
  };
}
const stamp = (): { mono: number; wall: number } => ({ mono: 1, wall: 2 });

describe('CommandPipeline', () => {
  it('packs commandsPerEntryMax per entry and answers each command from its applied entry', () => {
    const out: { answer: Answer; index: number }[] = [];
    const p = new CommandPipeline(2);
    for (let i = 0; i < 3; i++) p.enqueue(cmd(out));
    const items = p.pack(stamp);
    expect(items.map((x) => x.id)).toEqual([1, 2]);
    expect(p.queuedCount()).toBe(0);
    expect(p.pendingCount()).toBe(3);
    p.onProposed([
      { id: 1, index: asLogIndex(5), term: asTerm(2) },
      { id: 2, index: asLogIndex(6), term: asTerm(2) },
    ]);
    const ok: Answer = { ok: true, value: null } as Answer;
    p.onApplied({ index: asLogIndex(5), term: asTerm(2), type: EntryType.Normal, data: new Uint8Array() }, [
      { answer: ok },
      { answer: ok },
    ]);
    // Entry 6 was overwritten by another leader's entry (another term): unknown outcome.
    p.onApplied({ index: asLogIndex(6), term: asTerm(3), type: EntryType.Normal, data: new Uint8Array() }, [
      { answer: ok },
    ]);
    expect(out.map((r) => [r.index, r.answer.ok])).toEqual([
      [5, true],
      [5, true],
      [0, false],
    ]);
    expect(p.pendingCount()).toBe(0);
  });

  it('gives every entry a buffer of its own (a slice of the shared encode buffer keeps it all alive)', () => {
    const p = new CommandPipeline(2);
    for (let i = 0; i < 3; i++) p.enqueue(cmd([]));
    const items = p.pack(stamp);
    expect(items).toHaveLength(2);
    for (const { data } of items) {
      expect(data.byteOffset).toBe(0);
      expect(data.buffer.byteLength).toBe(data.byteLength);
      expect(decodeEnvelope(data)?.cmds).toHaveLength(data === items[0]?.data ? 2 : 1);
    }
  });

  it('packs lease commands behind the rest of the batch, each group in order, and answers each its own', () => {
    const got: string[] = [];
    const p = new CommandPipeline(10);
    const typed = (name: string, c: Command): PendingCommand => ({
      cmd: { session: null, seq: 0, cmd: c },
      deadline: 0,
      resolve: (r) => got.push(`${name}:${r.answer.ok ? String(r.answer.value) : 'err'}`),
    });
    const lease = (w: string): Command => ({ type: 'lease', queue: 'q', workerId: w, max: 5 });
    const enq: Command = { type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([1]) }] };
    p.enqueue(typed('lease1', lease('w1')));
    p.enqueue(typed('enq1', enq));
    p.enqueue(typed('lease2', lease('w2')));
    p.enqueue(typed('enq2', enq));
    const [item] = p.pack(stamp);
    const cmds = decodeEnvelope(item!.data)!.cmds.map((c) => (c.cmd.type === 'lease' ? c.cmd.workerId : c.cmd.type));
    expect(cmds).toEqual(['enqueue', 'enqueue', 'w1', 'w2']);
    p.onProposed([{ id: item!.id, index: asLogIndex(4), term: asTerm(1) }]);
    const answers = ['a', 'b', 'c', 'd'].map((value) => ({ answer: { ok: true, value } as unknown as Answer }));
    p.onApplied({ index: asLogIndex(4), term: asTerm(1), type: EntryType.Normal, data: item!.data }, answers);
    expect(got.sort()).toEqual(['enq1:a', 'enq2:b', 'lease1:c', 'lease2:d']);
  });

  it('counts every command until it is answered, in flight included (pendingCommandsMax)', () => {
    const out: { answer: Answer; index: number }[] = [];
    const p = new CommandPipeline(4);
    p.enqueue(cmd(out));
    p.enqueue(cmd(out));
    p.pack(stamp);
    p.onProposed([{ id: 1, index: asLogIndex(3), term: asTerm(1) }]);
    expect(p.queuedCount()).toBe(0);
    expect(p.pendingCount()).toBe(2);
    p.enqueue(cmd(out));
    expect(p.pendingCount()).toBe(3);
    p.failQueued({ code: 'NOT_LEADER', message: 'x' });
    expect(p.pendingCount()).toBe(2);
    p.failStarted({ code: 'UNAVAILABLE', message: 'x' }, 'leadership-lost');
    expect(p.pendingCount()).toBe(0);
    expect(out).toHaveLength(3);
  });

  it('asserts that in-flight indexes grow', () => {
    const p = new CommandPipeline(1);
    p.enqueue(cmd([]));
    p.enqueue(cmd([]));
    p.pack(stamp);
    p.onProposed([{ id: 1, index: asLogIndex(7), term: asTerm(1) }]);
    expect(() => p.onProposed([{ id: 2, index: asLogIndex(7), term: asTerm(1) }])).toThrow(AssertionError);
  });

  it('starts over after losing leadership: the next term may reuse lower indexes', () => {
    const out: { answer: Answer; index: number }[] = [];
    const p = new CommandPipeline(1);
    p.enqueue(cmd(out));
    p.pack(stamp);
    p.onProposed([{ id: 1, index: asLogIndex(9), term: asTerm(1) }]);
    p.failStarted({ code: 'UNAVAILABLE', message: 'leadership lost while committing' }, 'leadership-lost');
    expect(out[0]?.answer).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    p.enqueue(cmd(out));
    p.pack(stamp);
    expect(() => p.onProposed([{ id: 2, index: asLogIndex(4), term: asTerm(3) }])).not.toThrow();
  });
});

describe('CommandPipeline packing by bytes', () => {
  const big = (n: number, bytes: number): PendingCommand => ({
    cmd: {
      session: null,
      seq: n,
      cmd: { type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array(bytes).fill(n % 251) }] },
    } as unknown as PendingCommand['cmd'],
    deadline: 0,
    resolve: () => undefined,
  });

  it('regroups commands that each fit, so that no entry goes over the limit', () => {
    const limit = 256 * 1024;
    const p = new CommandPipeline(1024, limit);
    for (let i = 0; i < 40; i++) p.enqueue(big(i, 20_000));
    const items = p.pack(stamp);
    expect(items.length).toBeGreaterThanOrEqual(4);
    for (const it of items) expect(it.data.length).toBeLessThanOrEqual(limit);
    // Every command once, in order, across the entries.
    const seqs = items.flatMap((it) => (decodeEnvelope(it.data)?.cmds ?? []).map((c) => c.seq));
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('keeps small commands in one entry, and a command too large alone in its own entry', () => {
    const p = new CommandPipeline(1024, 64 * 1024);
    p.enqueue(big(1, 100));
    p.enqueue(big(2, 100_000));
    p.enqueue(big(3, 100));
    const items = p.pack(stamp);
    expect(items.map((it) => (decodeEnvelope(it.data)?.cmds ?? []).map((c) => c.seq))).toEqual([[1], [2], [3]]);
    const small = new CommandPipeline(1024, 64 * 1024);
    for (let i = 0; i < 10; i++) small.enqueue(big(i, 100));
    expect(small.pack(stamp)).toHaveLength(1);
  });
});
