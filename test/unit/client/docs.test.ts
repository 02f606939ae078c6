// Runs every ```ts example of docs/sdk.md against an in-process node (client service over a real
// state machine): the imports from 'raftq' are bound to the SDK, the rest runs as written.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runExample, serveExamples, tsExamples } from '../examples.js';
import { MachineExecutor } from './machine-executor.js';

const examples = tsExamples(readFileSync(new URL('../../../docs/sdk.md', import.meta.url), 'utf8'));

serveExamples(() => new MachineExecutor());

describe('docs/sdk.md examples', () => {
  it('has examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
  });

  // Issue 18: the low-level consumer API's examples stay among those run below.
  it('runs the low-level API: leasing by hand, a late ack refused with LeaseLostError, a long poll', () => {
    const has = (...parts: string[]): boolean => examples.some((e) => parts.every((p) => e.includes(p)));
    expect(has('.lease(', '.ackMany(', '.nack(', '.extend(', '.release(', 'beliefDeadline')).toBe(true);
    expect(has('.lease(', '.ack(', 'instanceof LeaseLostError')).toBe(true);
    expect(has('.leaseRound(', 'waitMs', "lane: 'poll'", 'grantedBy', 'heldMs')).toBe(true);
  });

  examples.forEach((code, i) => {
    const title = code.split('\n').find((l) => l.includes('client.queue') || l.includes('client.worker')) ?? '';
    it(`example ${i + 1}: ${title.trim().slice(0, 60)}`, async () => {
      expect((await runExample(code)).length).toBeGreaterThan(0);
    }, 15_000);
  });
});
