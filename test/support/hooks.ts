// The node arguments that load the test launcher preload (test/support/node-test-hooks.mjs).
import { fileURLToPath } from 'node:url';

/** Absolute path of the preload; this module is only run from source (vitest, tsx). */
export const NODE_TEST_HOOKS = fileURLToPath(new URL('./node-test-hooks.mjs', import.meta.url));

/** execArgv for a node process that gets the test-only fault hooks (RAFTQ_TEST_* env). */
export const TEST_HOOKS_EXEC_ARGV = ['--import', NODE_TEST_HOOKS];
