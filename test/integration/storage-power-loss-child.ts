// Child process of storage-power-loss.test.ts: persists one entry per Ready and prints "ack <index>"
// once each write resolved. The parent cuts the power with SIGUSR2 (see faultLayerFromEnv).
import { DurableStore } from '../../src/node/storage/durable-store.js';
import { faultLayerFromEnv } from '../../src/node/storage/fault-layer.js';
import { EntryType } from '../../src/raft/types.js';
import { asLogIndex, asTerm } from '../../src/protocol/ids.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: storage-power-loss-child <dataDir>');
const wrapKv = faultLayerFromEnv();
if (wrapKv === undefined) throw new Error('RAFTQ_TEST_DISK_FAULT_MODE must be set');
const store = await DurableStore.open(dir, { clusterId: 'power-loss', wrapKv });
await store.recover();
process.stdout.write('ready\n');
const ENTRIES_MAX = 20_000;
for (let index = 1; index <= ENTRIES_MAX; index++) {
  const data = new TextEncoder().encode(`task-${index}`);
  try {
    await store.persist({
      hardState: { term: asTerm(1), vote: 'n1', commit: asLogIndex(index - 1) },
      entries: [{ index: asLogIndex(index), term: asTerm(1), type: EntryType.Normal, data }],
    });
  } catch {
    break; // powered off: wait for the SIGKILL that follows
  }
  process.stdout.write(`ack ${index}\n`);
}
await new Promise(() => undefined); // never exit on our own: the parent's check relies on the kill
