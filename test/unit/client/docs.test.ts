// Runs every ```ts example of docs/sdk.md against an in-process node (client service over a real
// state machine): the imports from 'raftq' are bound to the SDK, the rest runs as written.
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as sdk from '../../../src/client/index.js';
import { ClientServer } from '../../../src/rpc/client-service.js';
import { MachineExecutor } from './machine-executor.js';

const doc = readFileSync(new URL('../../../docs/sdk.md', import.meta.url), 'utf8');
const examples = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');

const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (
  ...args: string[]
) => (...a: unknown[]) => Promise<void>;

/** The example as a function of the SDK's exports and a console. */
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
const savedServers = process.env['RAFTQ_SERVERS'];

beforeAll(async () => {
  server = await ClientServer.start({ address: '127.0.0.1:0', executor: new MachineExecutor() });
  process.env['RAFTQ_SERVERS'] = server.address;
});

afterAll(async () => {
  if (savedServers === undefined) delete process.env['RAFTQ_SERVERS'];
  else process.env['RAFTQ_SERVERS'] = savedServers;
  await server.close();
});

describe('docs/sdk.md examples', () => {
  it('has examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
  });

  examples.forEach((code, i) => {
    const title = code.split('\n').find((l) => l.includes('client.queue') || l.includes('client.worker')) ?? '';
    it(`example ${i + 1}: ${title.trim().slice(0, 60)}`, async () => {
      const logs: unknown[][] = [];
      await compile(code)(sdk, { log: (...a: unknown[]) => logs.push(a) });
      expect(logs.length).toBeGreaterThan(0);
    }, 15_000);
  });
});
