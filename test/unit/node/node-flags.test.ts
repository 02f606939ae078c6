// The node flags (NODE_FLAGS) are the same whichever way a member starts: through bin/raftq.js's
// shebang (`raftq start`, the image, the systemd unit) or through LocalCluster (`raftq dev`, demo, tests).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS, RAFTQ_BIN } from '../../../src/node/local-cluster.js';

describe('node flags', () => {
  it("bin/raftq.js's shebang passes exactly NODE_FLAGS to node", () => {
    const first = readFileSync(RAFTQ_BIN, 'utf8').split('\n')[0];
    expect(first).toBe(`#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
  });

  it('node takes those flags as the shebang passes them (env -S splits them)', () => {
    // What bin/raftq.js's first line runs, with a script in place of the file: node parsed the flags as its own.
    const script = 'console.log(JSON.stringify(process.execArgv))';
    const out = execFileSync('/usr/bin/env', ['-S', `node ${NODE_FLAGS.join(' ')}`, '-e', script], {
      encoding: 'utf8',
    });
    expect((JSON.parse(out) as string[]).slice(0, NODE_FLAGS.length)).toEqual([...NODE_FLAGS]);
  });
});
