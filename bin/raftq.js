#!/usr/bin/env -S node --max-semi-space-size=32
// The raftq command: a thin launcher for the compiled CLI. Its node flags are NODE_FLAGS (src/node/local-cluster.ts).
import { main } from '../dist/src/node/cli.js';

main(process.argv).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`raftq: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
