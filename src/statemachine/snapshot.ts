// Snapshot / restore (docs/design.md §3): a sequence of chunks, each one msgpack value, so the node can
// write or send them while yielding to the event loop. Heaps of ready / delayed / leased tasks are
// rebuilt from task states (their pop order depends only on their keys); the lazy timer heaps are
// stored verbatim, stale entries included, so a restored replica spends its per-entry budgets
// exactly as the original would.

import {
  hashSharedLimits,
  restoreSharedLimits,
  sharedLimitRows,
  type SharedLimitRow,
} from './shared-limits-commands.js';
import type { QueueSettings } from '../protocol/index.js';
import { decode, decodeMultiple, encode } from '../protocol/index.js';
import { assert } from '../protocol/assert.js';
import { SnapshotCow } from './snapshot-cow.js';
import type { Timer } from './heap.js';
import { IndexedHeap, TimerHeap, sortTimers } from './heap.js';
import type { Attempt, CachedAnswer, LimitKey } from './records.js';
import { Hasher } from './hash.js';
import { addTask, digestOf, hashAnswer, hashKey, hashQueue, touchJob } from './digest.js';
import { eligible } from './placement.js';
import { restoreSchedules, scheduleRow } from './schedules.js';
import { account, keyOf } from './limits.js';
import type { MachineState } from './state.js';
import { monoLess, sharedHeaders, stampOf, wakeLess, wallLess } from './state.js';
import type { LimiterRow } from './limits-snapshot.js';
import type { TopicRow } from './topics-snapshot.js';
import { restoreTopics, topicRows } from './topics-snapshot.js';
import { restoreTokens, tokenRows, type TokenRow } from './tokens.js';
import { limiterRow, placeLimiters, restoreLimiters } from './limits-snapshot.js';
import { refuseRestore } from './activate.js';
import { SM_BASE, SM_MAX } from './version.js';
import type { JobKind } from './records.js';
import {
  AdminJob,
  Queue,
  S_DELAYED,
  S_LEASED,
  S_WAITING,
  Session,
  Task,
  EXTRA_FIELDS,
  NO_EXTRA,
  H_IN_SUM,
  isTerminal,
} from './records.js';
import { payloadBytes } from './payloads.js';
import { RowWriter } from './snapshot-rows.js';

// 4: a `limiters` chunk per queue (its limiter and limit keys) and the `limitTimers` heap; the
// digest has a limiters lane. 3: queue rows carry `deleting`, and a `jobs` chunk holds pending
// admin work. 2 and 3 restore as before (no limiters: keys are rebuilt from tasks, checked against
// the digest without the limiters lane).
// 5: a `schedules` chunk (schedules.ts); tasks may carry workflow fields (cancel request,
// dependencies, dependants, flow) and a `topics` chunk holds the topic bindings (docs/workflows.md);
// 4 restores as before (none of them).
// 6: a job row may be a redrive job (kind 'redrive', with the count left and toQueue). Written only
// when the state holds one, so a replica that reads up to 5 still restores every other snapshot.
// 7: a job row may be a resettle job (kind 'resettle': limit keys re-placed after a settings change,
// its cursor the name of the next key, in the 7th place). Written only when the state holds one.
const FORMAT = 'raftq-sm/5';
const FORMAT_REDRIVE_JOBS = 'raftq-sm/6';
const FORMAT_RESETTLE_JOBS = 'raftq-sm/7';
const FORMATS_READ = ['raftq-sm/2', 'raftq-sm/3', 'raftq-sm/4', FORMAT, FORMAT_REDRIVE_JOBS, FORMAT_RESETTLE_JOBS];
/** Formats whose snapshots carry limiters (and the digest's limiters lane). */
const WITH_LIMITERS = ['raftq-sm/4', FORMAT, FORMAT_REDRIVE_JOBS, FORMAT_RESETTLE_JOBS];

function formatOf(m: MachineState): string {
  if (m.jobs.some((j) => j.kind === 'resettle')) return FORMAT_RESETTLE_JOBS;
  return m.jobs.some((j) => j.kind === 'redrive') ? FORMAT_REDRIVE_JOBS : FORMAT;
}
const CHUNK_ITEMS_MAX = 4096;

type TimerName = 'ttlTimers' | 'retentionTimers' | 'keyTimers' | 'sessionTimers' | 'limitTimers';
const TIMERS: readonly TimerName[] = ['ttlTimers', 'retentionTimers', 'keyTimers', 'sessionTimers', 'limitTimers'];

/** The fields a task without `x` still writes: NO_EXTRA's defined defaults (the fast path below). */
const BARE_EXTRA = EXTRA_FIELDS.filter((k) => k !== 'headers' && NO_EXTRA[k] !== undefined);
assert(BARE_EXTRA.length === 1 && NO_EXTRA.wallDue === false, 'snapshot: a bare task writes wallDue only');

/** The task's extra record: `x`'s replicated fields and the task's headers (records.ts EXTRA_FIELDS). */
function encodeExtra(t: Task): Record<string, unknown> | null {
  // A backlog's tasks: headers and no `x`. A literal, not the loop below (a fifth of a snapshot).
  if (t.x === undefined) return t.headers === undefined ? null : { headers: t.headers, wallDue: false };
  const x = t.x;
  const o: Record<string, unknown> = {};
  for (const k of EXTRA_FIELDS) {
    const v = k === 'headers' ? t.headers : x[k];
    if (v !== undefined) o[k] = v;
  }
  return o;
}

/**
 * Restores an extra record. Headers with every other field at its default (NO_EXTRA) go on the task
 * alone; anything else makes `x`. Either way the task hashes and encodes as it did when written.
 */
function restoreExtra(m: MachineState, t: Task, rec: Record<string, unknown>): void {
  const defaults = NO_EXTRA as unknown as Record<string, unknown>;
  const headersOnly =
    rec.headers !== undefined && Object.keys(rec).every((k) => k === 'headers' || rec[k] === defaults[k]);
  if (rec.headers !== undefined && !(headersOnly && m.plantRestoreLosesHeaders)) {
    // Shared with the other tasks holding the same headers, as a live enqueue does (state.ts).
    t.headers = sharedHeaders(m, plain(rec.headers) as Record<string, string>);
  }
  if (headersOnly) return;
  const ex = t.extra() as unknown as Record<string, unknown>;
  for (const k of EXTRA_FIELDS) if (k !== 'headers' && rec[k] !== undefined) ex[k] = plain(rec[k]);
}

/** Lease and ending fields (Task.run, read and written through the task's accessors). */
const RUN_FIELDS = [
  'worker',
  'leaseMsCur',
  'history',
  'reason',
  'endedMono',
  'removeAt',
  // Where the task ended in the log (issue 15): absent in snapshots written before.
  'endedIndex',
  'endedTerm',
  // The rest of its story (story.ts): absent in snapshots written before.
  'story',
] as const;

function encodeRun(t: Task): Record<string, unknown> | null {
  // Every run field reads `run`: a task never leased nor ended (a backlog's) has none.
  if (t.run === undefined) return null;
  const o: Record<string, unknown> = {};
  let any = false;
  for (const k of RUN_FIELDS) {
    if (t[k] === undefined) continue;
    o[k] = t[k];
    any = true;
  }
  return any ? o : null;
}

function encodeTask(t: Task): unknown[] {
  return [
    t.id,
    t.q.name,
    payloadBytes(t),
    t.priority,
    t.state,
    t.attempts,
    t.deliveries,
    t.leases,
    // One slot for both (formats 2 and 3): at most one is non-zero; x.wallDue says which.
    t.dueMono + t.dueWall,
    t.token,
    t.enqMono,
    t.enqWall,
    encodeExtra(t),
    encodeRun(t),
    // The log entry that created the task (issue 15); rows written before end at `run`.
    t.enqIndex ?? null,
    t.enqTerm ?? null,
  ];
}

function* chunked<T>(items: Iterable<T>, size: number, wrap: (batch: T[]) => unknown): Generator<Uint8Array> {
  let batch: T[] = [];
  for (const item of items) {
    batch.push(item);
    if (batch.length >= size) {
      yield encode(wrap(batch));
      batch = [];
    }
  }
  if (batch.length > 0) yield encode(wrap(batch));
}

/** The tasks' chunks, `size` rows each (snapshot-rows.ts writes them as msgpackr would). */
function* taskChunks(rows: Iterable<unknown[]>, w: RowWriter, size: number): Generator<Uint8Array> {
  let batch: unknown[][] = [];
  for (const row of rows) {
    batch.push(row);
    if (batch.length < size) continue;
    yield w.chunk(batch);
    batch = [];
  }
  if (batch.length > 0) yield w.chunk(batch);
}

/**
 * The state at the current index as chunks. Entries may be applied between chunks: everything before
 * the tasks is encoded at once; what follows them is captured at once and encoded as it is taken; the
 * tasks' chunks (the bulk) are taken lazily in id order, each task that changes or leaves before its
 * chunk first saving its row (snapshot-cow.ts). The caller drops the generator with return() if it
 * stops early. `plantNoCow` (tests only): no rows saved.
 */
export function* snapshotChunks(
  m: MachineState,
  plantNoCow = false,
  alloc?: (n: number) => Uint8Array,
): Generator<Uint8Array> {
  // First: digestOf brings every queue back into the sum, and the digest is the one at this index.
  const end = encode(['end', digestOf(m)]);
  const head = [...headChunks(m)];
  const tail = tailChunks(m);
  const tasks = [...m.tasks.values()];
  const cow = new SnapshotCow(m.nextTaskId, (t) => decode(encode(encodeTask(t))) as unknown[]);
  if (!plantNoCow) m.cows.push(cow);
  try {
    yield* head;
    const rows = function* (): Generator<unknown[]> {
      for (const t of tasks) yield cow.rowOf(t, encodeTask);
    };
    yield* taskChunks(rows(), new RowWriter(m.plantSnapshotShortBin, alloc), m.snapshotChunkTasks);
    assert(cow.pending === 0, 'snapshot: every saved row was written');
    yield* tail();
    yield end;
  } finally {
    const at = m.cows.indexOf(cow);
    if (at >= 0) m.cows.splice(at, 1);
  }
}

/** Everything before the tasks, encoded now. */
function* headChunks(m: MachineState): Generator<Uint8Array> {
  yield encode([
    'head',
    formatOf(m),
    {
      applied: m.applied,
      mono: m.mono,
      wall: m.wall,
      nextTaskId: m.nextTaskId,
      nextSessionId: m.nextSessionId,
      // The state machine version (version.ts), last; only above 1: absent means 1.
      ...(m.activeVersion > 1 ? { activeVersion: m.activeVersion } : {}),
    },
  ]);
  const queues = [...m.queues.values()].map((q) => [q.name, q.settings, q.totals, q.deleting]);
  yield encode(['queues', queues]);
  if (m.shared.size > 0) yield encode(['sharedLimits', sharedLimitRows(m)]);
  if (m.jobs.length > 0) yield encode(['jobs', m.jobs.map(encodeJob)]);
  if (m.schedules.map.size > 0)
    yield* chunked(m.schedules.map.values(), CHUNK_ITEMS_MAX, (b) => ['schedules', b.map(scheduleRow)]);
  if (m.topics.size > 0) yield encode(['topics', topicRows(m)]);
  if (m.tokens.size > 0) yield encode(['tokens', tokenRows(m)]);
  for (const q of m.queues.values()) {
    const keys = [...q.keys].map(([k, e]) => [k, e.id, e.expiresAt]);
    yield* chunked(keys, CHUNK_ITEMS_MAX, (b) => ['keys', q.name, b]);
    yield* chunked([q.lim, ...q.lkeys.values()].map(limiterRow), CHUNK_ITEMS_MAX, (b) => ['limiters', q.name, b]);
  }
}

/**
 * Everything after the tasks but the end: captured now, encoded as it is taken (at 30,000 finished
 * tasks the timers alone held up a node's event loop for tens of milliseconds). What is captured is
 * never changed in place: a session's numbers are copied, cached answers and timer entries are
 * replaced, never edited.
 */
function tailChunks(m: MachineState): () => Generator<Uint8Array> {
  const sessions = [...m.sessions.values()].map(
    (s) => [s.id, s.timeoutMs, s.lastMono, s.floor, [...s.answers]] as const,
  );
  const timers = TIMERS.map((name) => [name, m[name].entries()] as const);
  return function* () {
    yield* chunked(sessions, CHUNK_ITEMS_MAX, (b) => [
      'sessions',
      b.map(([id, timeoutMs, lastMono, floor, answers]) => [
        id,
        timeoutMs,
        lastMono,
        floor,
        answers.map(([seq, c]) => [seq, c.answer]),
      ]),
    ]);
    for (const [name, entries] of timers) {
      yield* chunked(sortTimers(entries), CHUNK_ITEMS_MAX, (b) => ['timers', name, b.map((e) => [e.at, e.key])]);
    }
  };
}

type JobRow = [JobKind, string, number, number, number[], number?, (string | null)?];

/**
 * A job: kind, queue, cursor (task id, 0 at the end), upTo, and for a re-park the delayed tasks
 * not yet visited whose heap membership still follows the old setting (restore flips them back);
 * a redrive job adds the count left and its toQueue; a resettle job (no task cursor) adds 0 and the
 * name of the next key to visit (null: at the end).
 */
function encodeJob(j: AdminJob): JobRow {
  const stale: number[] = [];
  if (j.kind === 'repark') {
    for (let t = j.next; t !== null; t = t.qnext) {
      if (t.state === S_DELAYED && t.pos >= 0 === t.q.settings.paused) stale.push(t.id);
    }
  }
  const row: JobRow = [j.kind, j.q.name, j.next?.id ?? 0, j.upTo, stale];
  if (j.redrive !== null) row.push(j.redrive.left, j.redrive.toQueue);
  if (j.kind === 'resettle') row.push(0, j.key?.name ?? null);
  return row;
}

function restoreJobs(m: MachineState, rows: JobRow[]): void {
  for (const [kind, qn, next, upTo, stale, left, toQueue] of rows) {
    const q = m.queues.get(qn) ?? fail(`job on unknown queue ${qn}`);
    const t = next === 0 ? null : (m.tasks.get(next) ?? fail(`job cursor on unknown task ${next}`));
    const j = new AdminJob(kind, q, t, upTo);
    if (kind === 'redrive') {
      if (typeof left !== 'number') fail('redrive job without its count');
      j.redrive = { left, toQueue: toQueue ?? null };
    }
    if (kind === 'resettle') seekKey(j, toQueue ?? null);
    touchJob(m, j, () => undefined);
    m.jobs.push(j);
    if (kind !== 'repark') continue;
    q.reparking = true;
    for (const id of stale) {
      const d = m.tasks.get(id) ?? fail(`re-park of unknown task ${id}`);
      const heap = d.x?.wallDue === true ? m.wallDelay : m.monoDelay;
      if (d.pos >= 0) heap.remove(d);
      else heap.push(d);
    }
  }
}

/** A restored resettle job: its key map iterated just past its cursor key, as on the original. */
function seekKey(j: AdminJob, name: string | null): void {
  j.keys = j.q.lkeys.values();
  if (name === null) {
    j.keys = [][Symbol.iterator]();
    return;
  }
  j.key = j.q.lkeys.get(name) ?? fail(`resettle job cursor on unknown key ${name} of ${j.q.name}`);
  for (let r = j.keys.next(); r.done !== true && r.value !== j.key; r = j.keys.next());
}

/** Decoded bins are Buffers viewing the chunk; the live state holds plain, owned Uint8Arrays. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) o[k] = plain(o[k]);
  }
  return v;
}

/** The head's activeVersion: absent (every snapshot before versions) means 1. */
function versionOf(h: unknown): number {
  const v = (h as { activeVersion?: unknown }).activeVersion;
  if (v === undefined) return SM_BASE;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < SM_BASE) fail(`bad activeVersion ${String(v)}`);
  return v;
}

function headVersion(values: unknown[]): number {
  for (const v of values) {
    if (Array.isArray(v) && v[0] === 'head' && typeof v[2] === 'object' && v[2] !== null) return versionOf(v[2]);
  }
  return SM_BASE;
}

function fail(msg: string): never {
  throw new Error(`restore: ${msg}`);
}

function reset(m: MachineState): void {
  m.tasks.clear();
  m.queues.clear();
  m.sessions.clear();
  m.leaseHeap = new IndexedHeap<Task>(monoLess);
  m.monoDelay = new IndexedHeap<Task>(monoLess);
  m.wallDelay = new IndexedHeap<Task>(wallLess);
  for (const name of TIMERS) m[name] = new TimerHeap();
  m.wake = new IndexedHeap<LimitKey>(wakeLess);
  m.lsum.a = 0;
  m.lsum.b = 0;
  m.nonTerminal = 0;
  m.keyCount = 0;
  m.jobs = [];
  m.schedules.clear();
  m.shared.clear();
  m.topics.clear();
  m.tokens.clear();
  m.tokensLive = 0;
  m.depWork = [];
  m.dirtyQueues = [];
  m.sum.a = 0;
  m.sum.b = 0;
  // Answers of the replaced state still waiting to be hashed must not enter the restored sum.
  m.pendingAnswers.clear();
  // The replaced tasks' payloads go with them (views a snapshot being sent still holds stay valid).
  m.payloads = m.payloads.emptied();
  m.activeVersion = SM_BASE;
  // A snapshot being taken described the state this restore replaces (its taker abandons it).
  m.cows = [];
}

function decodeTask(m: MachineState, row: unknown[]): Task {
  const [id, qn, payload, priority, state, attempts, deliveries, leases, due, token, enqMono, enqWall, x, run, ei, et] =
    row as [
      number,
      string,
      Uint8Array,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      Record<string, unknown> | null,
      Record<string, unknown> | null,
      number | null | undefined,
      number | null | undefined,
    ];
  const q = m.queues.get(qn) ?? fail(`task ${id} in unknown queue ${qn}`);
  const ph = new Hasher().bytes(payload).a;
  const t = new Task(id, q, ph, priority, stampOf(m, enqMono, enqWall));
  m.payloads.put(t, payload);
  t.state = state;
  t.attempts = attempts;
  t.deliveries = deliveries;
  t.leases = leases;
  t.token = token;
  if (typeof ei === 'number') t.enqIndex = ei;
  if (typeof et === 'number') t.enqTerm = et;
  if (run !== null) {
    const rt = t as unknown as Record<string, unknown>;
    for (const k of RUN_FIELDS) if (run[k] !== undefined) rt[k] = plain(run[k]);
  }
  if (x !== null) restoreExtra(m, t, x);
  if (state === S_DELAYED && t.x?.wallDue === true) t.dueWall = due;
  else t.dueMono = due;
  return t;
}

/** Rebuild the derived structures: queue lists, counts, groups, heaps and the digest sum. */
function rebuild(m: MachineState, ordered: Task[]): void {
  for (const t of ordered) {
    m.tasks.set(t.id, t);
    t.q.append(t);
    t.q.counts[t.state] = (t.q.counts[t.state] as number) + 1;
    if (!isTerminal(t.state)) {
      m.nonTerminal++;
      account(m, t, -1, t.state);
    }
    const g = t.x?.group;
    if (g !== undefined && !isTerminal(t.state)) {
      const group = t.q.groups.get(g);
      if (group === undefined) t.q.groups.set(g, { tasks: [t], head: 0 });
      else group.tasks.push(t);
    }
  }
  for (const t of ordered) {
    if (t.state === S_WAITING && eligible(t)) keyOf(m, t).ready.push(t);
    else if (t.state === S_DELAYED && !t.q.settings.paused) (t.x?.wallDue === true ? m.wallDelay : m.monoDelay).push(t);
    else if (t.state === S_LEASED) m.leaseHeap.push(t);
    addTask(m, t);
  }
  for (const q of m.queues.values()) {
    m.keyCount += q.keys.size;
    m.sum.add(hashQueue(m, q));
    for (const [k, e] of q.keys) m.sum.add(hashKey(m, q.name, k, e.id, e.expiresAt));
  }
}

function restoreSession(m: MachineState, row: unknown[]): void {
  const [id, timeoutMs, lastMono, floor, answers] = row as [string, number, number, number, [number, unknown][]];
  const s = new Session(id, timeoutMs, lastMono);
  s.floor = floor;
  for (const [seq, answer] of answers) {
    const h = hashAnswer(m, id, seq, answer);
    const c: CachedAnswer = { answer: plain(answer), a: h.a, b: h.b, h: H_IN_SUM, s, seq };
    s.answers.set(seq, c);
    m.sum.add(h);
  }
  const h = m.h;
  h.reset().tag(40).str(s.id).int(s.timeoutMs).int(s.lastMono).int(s.floor);
  s.a = h.a;
  s.b = h.b;
  m.sum.add(h);
  m.sessions.set(id, s);
}

/** `smMax`: the restoring replica's cap; a state of a higher version is refused before anything changes. */
/** A chunk's values (its bytes are checksummed: a chunk that does not decode is a bug, named as one). */
function decodeChunk(c: Uint8Array): unknown[] {
  try {
    return decodeMultiple(c);
  } catch (e) {
    return fail(`a chunk does not decode (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** A `tasks` chunk's rows into `out` (a snapshot's bytes are checksummed: a malformed one is a bug). */
function decodeTasks(m: MachineState, rows: unknown, out: Task[]): void {
  if (!Array.isArray(rows)) fail('tasks chunk is not a list');
  for (const row of rows as unknown[])
    out.push(decodeTask(m, Array.isArray(row) ? row : fail('task row is not a list')));
}

export function restoreInto(m: MachineState, chunks: Iterable<Uint8Array> | Uint8Array, smMax = SM_MAX): void {
  const values: unknown[] = [];
  const list = chunks instanceof Uint8Array ? [chunks] : chunks;
  for (const c of list) for (const v of decodeChunk(c)) values.push(v);
  refuseRestore(headVersion(values), smMax);
  reset(m);
  const tasks: Task[] = [];
  let jobs: JobRow[] = [];
  const schedules: unknown[][] = [];
  let format = FORMAT;
  const limiters: [string, LimiterRow[]][] = [];
  let expected: string | null = null;
  for (const v of values) {
    if (!Array.isArray(v)) fail('chunk is not a record');
    const [tag, a, b] = v as [string, unknown, unknown];
    if (tag === 'head') {
      if (!FORMATS_READ.includes(a as string)) fail(`unknown format ${String(a)}`);
      format = a as string;
      const h = b as { applied: number; mono: number; wall: number; nextTaskId: number; nextSessionId: number };
      m.applied = h.applied;
      m.mono = h.mono;
      m.wall = h.wall;
      m.nextTaskId = h.nextTaskId;
      m.nextSessionId = h.nextSessionId;
      m.activeVersion = versionOf(h);
    } else if (tag === 'queues') {
      for (const [name, settings, totals, deleting] of a as [string, QueueSettings, number[], boolean?][]) {
        const q = new Queue(name, settings);
        q.deleting = deleting === true;
        totals.forEach((n, i) => (q.totals[i] = n));
        m.queues.set(name, q);
      }
    } else if (tag === 'sharedLimits') {
      restoreSharedLimits(m, plain(a) as SharedLimitRow[]);
    } else if (tag === 'keys') {
      const q = m.queues.get(a as string) ?? fail('keys of an unknown queue');
      for (const [k, id, expiresAt] of b as [string, number, number][]) q.keys.set(k, { id, expiresAt });
    } else if (tag === 'limiters') {
      limiters.push([a as string, b as LimiterRow[]]);
    } else if (tag === 'schedules') {
      schedules.push(...(a as unknown[][]).map((r) => plain(r) as unknown[]));
    } else if (tag === 'jobs') {
      jobs = a as JobRow[];
    } else if (tag === 'topics') {
      restoreTopics(m, a as TopicRow[]);
    } else if (tag === 'tokens') {
      restoreTokens(m, a as TokenRow[]);
    } else if (tag === 'tasks') {
      decodeTasks(m, a, tasks);
    } else if (tag === 'sessions') {
      for (const row of a as unknown[][]) restoreSession(m, row);
    } else if (tag === 'timers') {
      const name = a as TimerName;
      if (!TIMERS.includes(name)) fail(`unknown timers ${name}`);
      m[name] = TimerHeap.from((b as [number, string | number][]).map(([at, key]): Timer => ({ at, key })));
    } else if (tag === 'end') {
      expected = a as string;
    } else fail(`unknown chunk ${String(tag)}`);
  }
  if (expected === null) fail('truncated snapshot');
  for (const [qn, rows] of limiters) restoreLimiters(m, qn, rows);
  rebuild(m, tasks);
  placeLimiters(m, WITH_LIMITERS.includes(format));
  hashSharedLimits(m);
  restoreJobs(m, jobs);
  restoreSchedules(m, schedules);
  const legacy = !WITH_LIMITERS.includes(format);
  if (digestOf(m, legacy) !== expected) fail(`digest mismatch: ${digestOf(m, legacy)} != ${expected}`);
}

export type { Attempt };
