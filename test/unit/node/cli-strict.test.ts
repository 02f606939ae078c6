// Strict settings from the command line (issue 17): `queues configure` refuses a typo'd key naming
// the closest known one, and a node config file does the same.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/node/cli.js';
import type { ClientServer } from '../../../src/rpc/client-server.js';
import { runCli, startServer } from './cli-harness.js';

let server: ClientServer;
beforeAll(async () => {
  ({ server } = await startServer());
});
afterAll(async () => {
  await server.close();
});

describe('strict settings in the CLI', () => {
  it('queues configure refuses an unknown key (exit 2) and a queue as its own dead-letter queue', async () => {
    const S = ['--servers', server.address];
    await runCli(['queues', 'configure', 'orders', '{}', '--create', ...S]);
    const typo = await runCli(['queues', 'configure', 'orders', '{"maxAtempts":2}', ...S]);
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/INVALID_ARGUMENT: settings\.maxAtempts: .*did you mean "maxAttempts"/);
    const self = await runCli(['queues', 'configure', 'orders', '{"deadLetterQueue":"orders"}', ...S]);
    expect(self.code).toBe(2);
    expect(self.err).toMatch(/settings\.deadLetterQueue/);
    const ok = await runCli(['queues', 'configure', 'orders', '{"maxAttempts":2}', ...S]);
    expect(ok.code, ok.err).toBe(0);
  });

  it('a node config file with a typo names the closest setting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftq-cfg-'));
    const file = join(dir, 'node.json');
    writeFileSync(file, JSON.stringify({ id: 'n1', heartbeatMS: 50 }));
    const errs: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (errs.push(String(s)), true)) as typeof process.stderr.write;
    try {
      expect(await main(['node', 'raftq', 'start', '--config', file])).toBe(2);
    } finally {
      process.stderr.write = orig;
      rmSync(dir, { recursive: true, force: true });
    }
    expect(errs.join('')).toMatch(/unknown setting "heartbeatMS" \(did you mean "heartbeatMs"\?\)/);
  });
});
