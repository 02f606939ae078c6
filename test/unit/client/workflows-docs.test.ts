// Runs every ```ts example of docs/workflows.md against an in-process node (client service over a
// real state machine): a fan-in flow, a fan-out through a topic, cancelling a running task.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runExample, serveExamples, tsExamples } from '../examples.js';
import { MachineExecutor } from './machine-executor.js';

const examples = tsExamples(readFileSync(new URL('../../../docs/workflows.md', import.meta.url), 'utf8'));

serveExamples(() => new MachineExecutor());

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
