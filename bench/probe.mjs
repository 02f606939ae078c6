// A measuring probe loaded into a `raftq start` process with `node --import <this file>` by
// bench/profile.ts. It changes no behaviour: it wraps a few methods of the compiled node (the same
// ESM module instances the node loads, found relative to this file) to count and time the hot path,
// and writes what it saw as JSON to $RAFTQ_PROBE_DIR/<pid>.json on SIGUSR2 and at exit.
// Counted: Readys (entries, messages, committed entries; time in persist, send, apply), durable
// batches and promise-file fsyncs, outgoing peer gRPC calls by method, client executes by command
// type with the node-side time from arrival to answer, and event-loop delay.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'node:inspector';
import { PerformanceObserver, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { URL } from 'node:url';

const dist = new URL('../dist/src/', import.meta.url);
const load = (p) => import(new URL(p, dist).href);
const { NodeDriver } = await load('node/driver.js');
const { NodeStorage } = await load('node/storage/node-storage.js');
const { PeerTransport } = await load('rpc/peer-transport.js');
const { QueueStateMachine } = await load('statemachine/index.js');
const { DurableStore } = await load('node/storage/durable-store.js');
const { PromiseFile } = await load('node/storage/promise-file.js');
const grpc = createRequire(new URL('../package.json', import.meta.url))('@grpc/grpc-js');
const fs = createRequire(import.meta.url)('node:fs');

const SAMPLE_MAX = 200_000;
const now = () => performance.now();
/** Bounded sample of durations (ms). */
class Samples {
  xs = [];
  n = 0;
  sum = 0;
  add(ms) {
    this.n++;
    this.sum += ms;
    if (this.xs.length < SAMPLE_MAX) this.xs.push(ms);
  }
  summary() {
    const s = Float64Array.from(this.xs).sort();
    const q = (p) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] : null);
    return { n: this.n, totalMs: +this.sum.toFixed(1), p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) };
  }
}
const samples = new Map();
const sample = (name) => samples.get(name) ?? samples.set(name, new Samples()).get(name);
const counts = new Map();
const count = (name, k = 1) => counts.set(name, (counts.get(name) ?? 0) + k);

// Ready: sizes and phases. Phase times are attributed to the Ready in progress.
let inReady = null;
const handleReady = NodeDriver.prototype.handleReady;
NodeDriver.prototype.handleReady = async function (rd) {
  const t0 = now();
  const r = { persist: 0, send: 0, apply: 0 };
  inReady = r;
  count('ready');
  count('ready.entries', rd.entries.length);
  count('ready.messages', rd.messages.length);
  count('ready.committed', rd.committedEntries.length);
  if (rd.hardState !== null) count('ready.hardState');
  if (rd.hardState !== null && rd.entries.length === 0 && rd.snapshot === null) count('ready.hardStateOnly');
  if (rd.entries.length > 0) count('ready.withEntries');
  if (rd.committedEntries.length > 0) count('ready.withCommitted');
  if (rd.messages.length > 0) count('ready.withMessages');
  noteCommitted(rd);
  try {
    return await handleReady.call(this, rd);
  } finally {
    inReady = null;
    sample('ready.totalMs').add(now() - t0);
    sample('ready.applyMs').add(r.apply);
    sample('ready.sendMs').add(r.send);
  }
};
const persistReady = NodeStorage.prototype.persistReady;
NodeStorage.prototype.persistReady = async function (ready) {
  const t0 = now();
  try {
    const r = await persistReady.call(this, ready);
    notePersisted(ready);
    return r;
  } finally {
    const ms = now() - t0;
    sample('persistReady.ms').add(ms);
    if (inReady) inReady.persist += ms;
  }
};
const send = PeerTransport.prototype.send;
PeerTransport.prototype.send = function (msgs) {
  const t0 = now();
  for (const m of msgs) {
    count(`peer.msg.${m.type}`);
    if (Array.isArray(m.entries)) count('peer.msg.entries', m.entries.length);
  }
  try {
    return send.call(this, msgs);
  } finally {
    if (inReady) inReady.send += now() - t0;
  }
};
const apply = QueueStateMachine.prototype.apply;
QueueStateMachine.prototype.apply = function (index, data) {
  const t0 = now();
  try {
    return apply.call(this, index, data);
  } finally {
    const ms = now() - t0;
    sample('sm.applyMs').add(ms);
    if (inReady) inReady.apply += ms;
  }
};

// Durable store: one LevelDB sync batch per takeBatch; the promise file only when a promise changed.
const kvBatchWrap = (kv) => {
  if (kv.__probed) return;
  const batch = kv.batch.bind(kv);
  kv.batch = async (ops, o) => {
    const t0 = now();
    try {
      return await batch(ops, o);
    } finally {
      count(o?.sync ? 'leveldb.syncBatch' : 'leveldb.batch');
      count('leveldb.ops', ops.length);
      sample(o?.sync ? 'leveldb.syncBatchMs' : 'leveldb.batchMs').add(now() - t0);
    }
  };
  kv.__probed = true;
};
const recordPromises = DurableStore.prototype.recordPromises;
DurableStore.prototype.recordPromises = async function (requests) {
  if (this.kv) kvBatchWrap(this.kv);
  const t0 = now();
  try {
    return await recordPromises.call(this, requests);
  } finally {
    sample('promises.recordMs').add(now() - t0);
  }
};
// The promise file's writes are durable on return (O_DSYNC): each one is an fsync.
const promiseWrite = PromiseFile.prototype.write;
PromiseFile.prototype.write = async function (...a) {
  const t0 = now();
  try {
    return await promiseWrite.apply(this, a);
  } finally {
    count('promisefile.write');
    sample('promisefile.writeMs').add(now() - t0);
  }
};
const drain = DurableStore.prototype.drain;
if (drain) {
  DurableStore.prototype.drain = function (...a) {
    if (this.kv) kvBatchWrap(this.kv);
    return drain.apply(this, a);
  };
}
// JS-level fsyncs (promise file, snapshot files, directories); LevelDB's own are native.
for (const name of ['fsync', 'fdatasync']) {
  const f = fs[name];
  fs[name] = function (...a) {
    count(`fs.${name}`);
    return f.apply(this, a);
  };
  const fp = fs.promises[name];
  if (fp) fs.promises[name] = (...a) => (count(`fs.promises.${name}`), fp(...a));
}
const fh = await fs.promises.open(new URL(import.meta.url).pathname, 'r');
const FileHandle = Object.getPrototypeOf(fh);
await fh.close();
for (const name of ['sync', 'datasync']) {
  const f = FileHandle[name];
  FileHandle[name] = async function (...a) {
    const t0 = now();
    try {
      return await f.apply(this, a);
    } finally {
      count(`filehandle.${name}`);
      sample(`filehandle.${name}Ms`).add(now() - t0);
    }
  };
}

// Outgoing gRPC calls (peer messages; the node makes no other outgoing calls).
const unary = grpc.Client.prototype.makeUnaryRequest;
grpc.Client.prototype.makeUnaryRequest = function (method, ...rest) {
  count(`grpc.out.${method}`);
  return unary.call(this, method, ...rest);
};

// Client commands: node-side time from execute() to the answers, by the first command's type.
const execute = NodeDriver.prototype.execute;
NodeDriver.prototype.execute = async function (cmds, opts) {
  const t0 = now();
  const type = cmds[0]?.cmd?.type ?? 'none';
  if (!opts?.maxHoldMs) for (const c of cmds) arrivedAt.set(c, t0);
  count(`execute.calls.${type}`);
  count(`execute.cmds.${type}`, cmds.length);
  try {
    return await execute.call(this, cmds, opts);
  } finally {
    sample(`execute.${type}${opts?.maxHoldMs ? '.held' : ''}.ms`).add(now() - t0);
  }
};

// Where a command's time goes on the leader, stamped on the driver's own objects (WeakMaps):
// execute() -> proposed (flushQueued) -> leader's write durable -> seen committed -> applied.
const arrivedAt = new WeakMap(); // SessionCommand -> ms
const proposedAt = new WeakMap(); // PendingCommand -> ms
const persistedAt = new Map(); // log index -> ms (bounded: deleted on apply)
const commitSeenAt = new Map(); // log index -> ms
const flushQueued = NodeDriver.prototype.flushQueued;
NodeDriver.prototype.flushQueued = function () {
  const t = now();
  if (this.isLeader) {
    for (const pc of this.commands.queued) {
      const a = arrivedAt.get(pc.cmd);
      if (a !== undefined) sample('cmd.executeToProposedMs').add(t - a);
      proposedAt.set(pc, t);
    }
  }
  return flushQueued.call(this);
};
const applyEntry = NodeDriver.prototype.applyEntry;
NodeDriver.prototype.applyEntry = function (e) {
  const f = this.commands.inflight.get(e.index);
  const r = applyEntry.call(this, e);
  const t = now();
  const p = f ? proposedAt.get(f.cmds[0]) : undefined;
  const d = persistedAt.get(e.index);
  const c = commitSeenAt.get(e.index);
  if (p !== undefined) {
    sample('entry.proposedToAppliedMs').add(t - p);
    if (d !== undefined) sample('entry.proposedToOwnWriteDurableMs').add(d - p);
  }
  if (d !== undefined && c !== undefined) sample('entry.ownWriteDurableToCommitSeenMs').add(c - d);
  if (c !== undefined) sample('entry.commitSeenToAppliedMs').add(t - c);
  persistedAt.delete(e.index);
  commitSeenAt.delete(e.index);
  return r;
};
const PENDING_MAX = 100_000;
const noteCommitted = (rd) => {
  const t = now();
  for (const e of rd.committedEntries) if (commitSeenAt.size < PENDING_MAX) commitSeenAt.set(e.index, t);
};
const notePersisted = (ready) => {
  const t = now();
  for (const e of ready.entries) if (persistedAt.size < PENDING_MAX) persistedAt.set(e.index, t);
};

// A CPU profile of the measured window only (not start-up), through the inspector in this process.
const session = new Session();
session.connect();
const post = (method, params = {}) =>
  new Promise((ok, fail) => session.post(method, params, (err, res) => (err ? fail(err) : ok(res))));
let profiling = false;
const startProfile = async () => {
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 500 });
  await post('Profiler.start');
  profiling = true;
};
const stopProfile = async (file) => {
  if (!profiling) return;
  profiling = false;
  const { profile } = await post('Profiler.stop');
  writeFileSync(file, JSON.stringify(profile));
};

const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();
// Garbage collections by kind (count and pause ms): is a backlog's cost in scavenges or in full GCs?
const GC_KINDS = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
let gcByKind = {};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = GC_KINDS[e.detail?.kind] ?? 'other';
    const g = (gcByKind[kind] ??= { n: 0, ms: 0 });
    g.n++;
    g.ms = +(g.ms + e.duration).toFixed(1);
  }
}).observe({ entryTypes: ['gc'] });
let cpu0 = process.cpuUsage();
let t00 = now();
let seq = 0;
/** Writes what was seen since the last dump to $RAFTQ_PROBE_DIR/<pid>-<tag>.json, then starts afresh. */
const dump = (tag) => {
  const cpu = process.cpuUsage(cpu0);
  const gcs = gcByKind;
  gcByKind = {};
  // Memory after a full GC when the node runs with --expose-gc (what is retained, not garbage).
  if (typeof globalThis.gc === 'function') globalThis.gc();
  const mem = process.memoryUsage();
  const out = {
    pid: process.pid,
    argv: process.argv.slice(2),
    wallMs: +(now() - t00).toFixed(0),
    cpuMs: { user: cpu.user / 1000, system: cpu.system / 1000 },
    memMiB: Object.fromEntries(Object.entries(mem).map(([k, v]) => [k, +(v / 2 ** 20).toFixed(1)])),
    counts: Object.fromEntries([...counts].sort()),
    samples: Object.fromEntries([...samples].sort().map(([k, v]) => [k, v.summary()])),
    gcByKind: gcs,
    eventLoopDelayMs: {
      p50: loop.percentile(50) / 1e6,
      p99: loop.percentile(99) / 1e6,
      max: loop.max / 1e6,
      mean: loop.mean / 1e6,
    },
  };
  const dir = process.env.RAFTQ_PROBE_DIR;
  if (dir) writeFileSync(join(dir, `${process.pid}-${tag}.json`), JSON.stringify(out, null, 1));
  counts.clear();
  samples.clear();
  loop.reset();
  cpu0 = process.cpuUsage();
  t00 = now();
};
// SIGUSR2 marks a workload boundary (SIGUSR1 is Node's inspector signal, left alone): the first
// starts the CPU profile, the second writes it next to the counts as <pid>-1.cpuprofile.
process.on('SIGUSR2', () => {
  const tag = String(seq++);
  const dir = process.env.RAFTQ_PROBE_DIR;
  const prof = profiling && dir ? stopProfile(join(dir, `${process.pid}-${tag}.cpuprofile`)) : Promise.resolve();
  void prof.then(() => {
    dump(tag);
    if (tag === '0' && process.env.RAFTQ_PROBE_PROFILE === '1') return startProfile();
  });
});
process.on('exit', () => dump('exit'));
