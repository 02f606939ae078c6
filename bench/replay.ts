// Replays a node's log through a fresh state machine, timed: the apply cost of a real workload's
// entries (sessions, SDK headers, batching as the cluster saw them) without the cluster around it.
// `npx tsx bench/replay.ts <node data dir> [rounds]`; keep a bench's dirs with RAFTQ_BENCH_KEEP=1. For
// where the time goes: `node --cpu-prof --import tsx bench/replay.ts …` (node refuses --cpu-prof in NODE_OPTIONS).
import { DurableStore } from '../src/node/storage/durable-store.js';
import { EntryType, type Entry } from '../src/raft/index.js';
import { QueueStateMachine } from '../src/statemachine/index.js';

async function readLog(dir: string): Promise<Entry[]> {
  const store = await DurableStore.open(dir, { create: false });
  try {
    const r = await store.recover();
    if (r.snapshotMeta !== null && r.snapshotMeta.index >= r.firstIndex) {
      throw new Error(`the log starts after a snapshot at ${r.snapshotMeta.index}: replay needs it from index 1`);
    }
    return r.entries;
  } finally {
    await store.close();
  }
}

function replay(entries: Entry[]): { ms: number; commands: number } {
  const sm = new QueueStateMachine();
  let commands = 0;
  const t0 = performance.now();
  for (const e of entries) {
    if (e.type === EntryType.Normal) commands += sm.apply(e.index, e.data, e.term).length;
    else sm.applyEmpty(e.index);
  }
  return { ms: performance.now() - t0, commands };
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (dir === undefined) throw new Error('usage: replay.ts <node data dir> [rounds]');
  const rounds = Number(process.argv[3] ?? 5);
  const entries = await readLog(dir);
  console.log(`${entries.length} entries from ${dir}`);
  for (let i = 0; i < rounds; i++) {
    const r = replay(entries);
    const perCmd = (r.ms * 1000) / r.commands;
    console.log(`round ${i + 1}: ${r.commands} commands in ${r.ms.toFixed(0)} ms, ${perCmd.toFixed(2)} µs per command`);
  }
}

await main();
