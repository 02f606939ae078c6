#!/usr/bin/env node
// The raftq command: a thin launcher for the compiled CLI.
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
