import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Transcript, parseTranscript } from './transcript.js';

// Transcript tests of the Raft core (etcd-io/raft's data-driven style): each file in transcripts/ is
// a scenario of steps and the exact messages, Readys and state they must print (see transcript.ts for
// the commands). A change in the core's behaviour shows up as a readable diff. After an intended
// change, regenerate with TRANSCRIPTS_REWRITE=1 and review the diff line by line before committing.
const dir = new URL('./transcripts/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort();

/** The file with every step's output replaced by what the core prints now. */
function replay(text: string): string {
  const t = new Transcript();
  const steps = parseTranscript(text);
  const lines = text.split('\n');
  const out: string[] = [];
  let at = 0;
  for (const s of steps) {
    const start = s.line - 1;
    out.push(...lines.slice(at, start + 2)); // comments, the command and ----
    const actual = t.run(s.command);
    out.push(...actual.split('\n'));
    at = start + 2 + (s.expected === '' ? 0 : s.expected.split('\n').length);
  }
  out.push(...lines.slice(at));
  return out.join('\n');
}

describe('raft - transcripts', () => {
  it('has scenarios', () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
  });

  for (const f of files) {
    it(f, () => {
      const url = new URL(f, dir);
      const text = readFileSync(url, 'utf8');
      const actual = replay(text);
      if (process.env['TRANSCRIPTS_REWRITE'] === '1' && actual !== text) writeFileSync(url, actual);
      else expect(actual).toBe(text);
    });
  }
});
