// Runs the ```ts examples of a Markdown file as written: `import { … } from 'raftq'` is bound to the
// SDK's exports, the rest is transpiled and run as an async function (shared by the README and the
// SDK docs tests).
import ts from 'typescript';
import { afterAll, beforeAll, expect } from 'vitest';
import * as sdk from '../../src/client/index.js';
import { ClientServer } from '../../src/rpc/client-server.js';
import type { ClientExecutor } from '../../src/rpc/executor.js';

export function tsExamples(markdown: string): string[] {
  return [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (
  ...args: string[]
) => (...a: unknown[]) => Promise<void>;

/** Runs one example with a console that records what it logs; returns the logged lines. */
export async function runExample(code: string): Promise<unknown[][]> {
  const imports = /^import \{([^}]*)\} from 'raftq';$/gm;
  const names = [...code.matchAll(imports)].flatMap((m) => (m[1] ?? '').split(',').map((s) => s.trim()));
  for (const n of names) expect(Object.keys(sdk), `raftq exports ${n}`).toContain(n);
  const body = ts.transpileModule(code.replace(imports, ''), {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
  }).outputText;
  const fn = new AsyncFunction('sdk', 'console', `const { ${names.join(', ')} } = sdk;\n${body}`);
  const logs: unknown[][] = [];
  await fn(sdk, { log: (...a: unknown[]) => logs.push(a) });
  return logs;
}

/**
 * Serves an in-process node (the client service over `executor`) for a file's examples: started
 * before all of them, its address in RAFTQ_SERVERS (as the docs' examples read it), closed after.
 */
export function serveExamples(executor: () => ClientExecutor): void {
  let server: ClientServer;
  const saved = process.env['RAFTQ_SERVERS'];
  beforeAll(async () => {
    server = await ClientServer.start({ address: '127.0.0.1:0', executor: executor() });
    process.env['RAFTQ_SERVERS'] = server.address;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env['RAFTQ_SERVERS'];
    else process.env['RAFTQ_SERVERS'] = saved;
    await server.close();
  });
}
