// Test launcher preload for real node processes (`node --import <this file> bin/raftq.js start ...`):
// installs the test-only fault hooks before the CLI runs. The production binary never reads these
// variables.
//   RAFTQ_TEST_DISK_FAULT_MODE=1|drop-sync  the storage fault layer (SIGUSR2 = power cut; drop-sync
//                                          also drops every sync flag: a planted bug)
//   RAFTQ_TEST_CLOCK=1                     a clock the admin port can skew
//   RAFTQ_TEST_SM_MAX=N                    runs state machine versions up to N only (an older release)
// The modules are loaded from the build the node runs (<root>/bin/raftq.js -> <root>/dist), so a
// private build (the jepsen-like runs) gets its own hooks registry.
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const main = process.argv[1];
if (main === undefined) throw new Error('node-test-hooks: no main script');
const dist = join(dirname(dirname(main)), 'dist', 'src', 'node');
const load = (rel) => import(pathToFileURL(join(dist, rel)).href);
const [{ SkewedClock, systemClock }, { installNodeHooks }, { faultLayerFromEnv }] = await Promise.all([
  load('log-clock.js'),
  load('node-hooks.js'),
  load(join('storage', 'fault-layer.js')),
]);

const wrapKv = faultLayerFromEnv(process.env);
installNodeHooks({
  ...(wrapKv ? { wrapKv } : {}),
  ...(process.env.RAFTQ_TEST_CLOCK ? { clock: new SkewedClock(systemClock) } : {}),
  ...(process.env.RAFTQ_TEST_SM_MAX ? { smMax: Number(process.env.RAFTQ_TEST_SM_MAX) } : {}),
});
