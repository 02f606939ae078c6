// Test-only fault hooks for a node process: the storage fault layer and a skewable clock. The
// production binary never constructs them and reads no environment for them; a test launcher
// (test/support/node-test-hooks.mjs, loaded with `node --import`) installs them before the CLI runs.
import type { SkewedClock } from './log-clock.js';
import type { FaultLayer } from './storage/fault-layer.js';
import type { KvStore } from './storage/kv.js';

export interface NodeHooks {
  /** Puts the storage fault layer under the store; its controls are served on the admin port. */
  wrapKv?: (kv: KvStore) => FaultLayer;
  /** A clock the admin port can skew (wall offset, mono rate). */
  clock?: SkewedClock;
  /** Caps the state machine versions this node runs below SM_MAX (RAFTQ_TEST_SM_MAX, issue 16). */
  smMax?: number;
}

let installed: NodeHooks = {};

/** Test launchers only: the hooks every node this process starts gets. */
export function installNodeHooks(hooks: NodeHooks): void {
  installed = hooks;
}

export function installedNodeHooks(): NodeHooks {
  return installed;
}
