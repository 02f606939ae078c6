// Runs every ```ts example of README.md against an in-process node (the real client service over a
// real state machine), as the SDK docs test does for docs/sdk.md.
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as sdk from '../../src/client/index.js';
import { ClientServer } from '../../src/rpc/client-service.js';
import { MachineExecutor } from './client/machine-executor.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');

const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (
  ...args: string[]
) => (...a: unknown[]) => Promise<void>;

function compile(code: string): (...a: unknown[]) => Promise<void> {
  const imports = /^import \{([^}]*)\} from 'raftq';$/gm;
  const names = [...code.matchAll(imports)].flatMap((m) => (m[1] ?? '').split(',').map((s) => s.trim()));
  for (const n of names) expect(Object.keys(sdk), `raftq exports ${n}`).toContain(n);
  const body = ts.transpileModule(code.replace(imports, ''), {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
  }).outputText;
  return new AsyncFunction('sdk', 'console', `const { ${names.join(', ')} } = sdk;\n${body}`);
}

let server: ClientServer;
const saved = process.env['RAFTQ_SERVERS'];
beforeAll(async () => {
  server = await ClientServer.start({ address: '127.0.0.1:0', executor: new MachineExecutor() });
  process.env['RAFTQ_SERVERS'] = server.address;
});
afterAll(async () => {
  if (saved === undefined) delete process.env['RAFTQ_SERVERS'];
  else process.env['RAFTQ_SERVERS'] = saved;
  await server.close();
});

describe('README.md examples', () => {
  it('has a TypeScript example', () => expect(examples.length).toBeGreaterThanOrEqual(1));
  examples.forEach((code, i) => {
    it(`example ${i + 1} runs`, async () => {
      const logs: unknown[][] = [];
      await compile(code)(sdk, { log: (...a: unknown[]) => logs.push(a) });
      expect(logs.length).toBeGreaterThan(0);
    }, 15_000);
  });
});
