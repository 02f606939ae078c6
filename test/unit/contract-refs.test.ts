// Issue 10 §6: the contract lives in docs/ (design.md, faults.md); no file in src, test, docs or the
// README may cite the old, out-of-repo documents. The pattern is assembled so this file passes itself.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const OLD = new RegExp(['DESIGN', 'md'].join('\\.') + '|' + ['FAU', 'LTS'].join(''));
const INTO_DOCS = /docs\/(design|faults)\.md/g;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe('contract references point into docs/', () => {
  it('no file cites the out-of-repo contract', () => {
    const all = [...['src', 'test', 'docs'].flatMap((d) => files(join(ROOT, d))), join(ROOT, 'README.md')];
    const hits: string[] = [];
    for (const f of all) {
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (OLD.test(line.replace(INTO_DOCS, ''))) hits.push(`${f.slice(ROOT.length + 1)}:${i + 1}`);
        });
    }
    expect(hits).toEqual([]);
  });
});
