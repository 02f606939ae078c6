// Random logs for the property tests. Abstract steps are made concrete against what a driver
// instance has answered so far (task ids, issued leases, sessions), so most commands hit real
// tasks; the resulting entries (bytes) can then be replayed anywhere.
import { asLogIndex } from '../../../src/protocol/ids.js';
import fc from 'fast-check';
import type {
  Answer,
  Command,
  QueueSettingsPatch,
  CommandAnswer,
  FlowNodeSpec,
  HeaderFilter,
  LeasedTask,
  SessionCommand,
  TaskEvent,
} from '../../../src/protocol/index.js';
import { TERMINAL_STATES, encodeEnvelope } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { WALL0 } from './harness.js';

export interface LogEntry {
  index: number;
  /** null: a Raft no-op / config entry (applyEmpty). */
  data: Uint8Array | null;
  mono: number;
  wall: number;
  /** The commands inside (for checks that need to know what ran). */
  cmds?: SessionCommand[];
}

export interface Grant {
  id: string;
  token: string;
  deadline: number;
  ended: boolean;
}

export interface Tracker {
  sm: QueueStateMachine;
  log: LogEntry[];
  answers: CommandAnswer[][];
  mono: number;
  wallSkew: number;
  maxId: number;
  grants: Grant[];
  sessions: { id: string; nextSeq: number; sent: Map<number, Command> }[];
  events: TaskEvent[];
  /** Roots of the flows created so far. */
  roots: string[];
}

const QUEUES = ['a', 'b', 'r'];

type Raw = { k: number; a: number; b: number; c: number; dt: number; sess: number; bytes: Uint8Array };

export const rawStep: fc.Arbitrary<Raw> = fc.record({
  k: fc.nat(26),
  a: fc.nat(),
  b: fc.nat(),
  c: fc.nat(),
  dt: fc.oneof(
    { weight: 8, arbitrary: fc.nat(1500) },
    { weight: 1, arbitrary: fc.integer({ min: 3000, max: 40_000 }) },
  ),
  sess: fc.integer({ min: -2, max: 1 }),
  bytes: fc.uint8Array({ maxLength: 12 }),
});

export const logArb = (min = 10, max = 120): fc.Arbitrary<Raw[]> =>
  fc.array(rawStep, { minLength: min, maxLength: max });

function pick<T>(xs: T[], n: number): T | undefined {
  return xs.length === 0 ? undefined : xs[n % xs.length];
}

export function newTracker(): Tracker {
  const t: Tracker = {
    sm: new QueueStateMachine(),
    log: [],
    answers: [],
    mono: 1000,
    wallSkew: 0,
    maxId: 0,
    grants: [],
    sessions: [],
    events: [],
    roots: [],
  };
  const setup: Command[] = [
    {
      type: 'createQueue',
      queue: 'a',
      settings: { maxAttempts: 2, maxDeliveries: 2, deadLetterQueue: 'dlq', leaseMs: 2000 },
    },
    {
      type: 'createQueue',
      queue: 'b',
      settings: { concurrency: 3, maxLength: 8, backoff: { type: 'fixed', delayMs: 400, jitterPct: 0 } },
    },
    { type: 'createQueue', queue: 'r', settings: { retentionMs: 0, taskTtlMs: 5000, idempotencyWindowMs: 3000 } },
  ];
  for (const cmd of setup) append(t, [{ session: null, seq: 0, cmd }], 0);
  return t;
}

function grantFor(t: Tracker, n: number, live: boolean): Grant | undefined {
  const gs = live ? t.grants.filter((g) => !g.ended) : t.grants;
  return pick(gs, n);
}

const DEDUP = ['active', 'throttle', 'debounce'] as const;

/** Limit keys (issue 13): key concurrency and rates, weights, a queue rate, or none of them. */
function limitSettings(r: Raw): QueueSettingsPatch {
  const rate = (n: number) => ({ limit: 1 + (n % 3), intervalMs: 200 + ((n * 37) % 1500), burst: 1 + (n % 4) });
  if (r.b % 4 === 0) return { rate: null, keyLimits: {}, keys: { L0: null }, maxWaiting: null };
  return {
    keyLimits: { concurrency: 1 + (r.a % 3), ...(r.b % 2 === 0 ? { rate: rate(r.a) } : {}) },
    keys: { L0: { weight: 1 + (r.c % 5), ...(r.c % 3 === 0 ? { maxWaiting: 1 + (r.a % 3) } : {}) } },
    ...(r.b % 3 === 0 ? { rate: rate(r.b) } : {}),
    ...(r.a % 3 === 0 ? { maxWaiting: 2 + (r.c % 5), overflow: r.b % 2 === 0 ? 'dropOldest' : 'refuse' } : {}),
  };
}

function concretize(t: Tracker, r: Raw): Command | 'noop' | 'garbage' {
  const id = String(1 + (r.a % Math.max(1, t.maxId + 1)));
  const g = grantFor(t, r.a, r.c % 4 !== 0);
  const gid = g?.id ?? id;
  const tok = g?.token ?? '1';
  const queue = QUEUES[r.b % 3] as string;
  switch (r.k) {
    case 0:
    case 1:
    case 2: {
      const n = 1 + (r.c % 3);
      const tasks = Array.from({ length: n }, (_, i) => ({
        payload: r.bytes,
        priority: (r.a + i) % 3,
        ...((r.c >> 2) % 3 === 1 ? { delayMs: (r.a % 2000) + 1 } : {}),
        ...((r.c >> 4) % 4 === 1 ? { runAt: WALL0 + t.mono + t.wallSkew + (r.a % 4000) } : {}),
        ...((r.c >> 6) % 3 === 1 ? { group: `g${(r.a + i) % 2}` } : {}),
        ...((r.c >> 8) % 3 === 1 ? { idempotencyKey: `k${(r.b + i) % 4}` } : {}),
        ...((r.c >> 8) % 3 === 2
          ? {
              dedup: {
                key: `d${(r.b + i) % 3}`,
                mode: DEDUP[r.a % 3] as (typeof DEDUP)[number],
                windowMs: 500 + (r.a % 3000),
              },
            }
          : {}),
        ...((r.c >> 10) % 3 === 1 ? { key: `L${(r.a + i) % 3}`, cost: 1 + ((r.c >> 12) % 3) } : {}),
        ...((r.c >> 8) % 3 === 0 && (r.a + i) % 3 === 0 ? { id: `i${(r.b + i) % 4}` } : {}),
        ...((r.b + i) % 5 === 0
          ? { backoff: { delayMs: r.a % 700, ...(r.c % 2 === 0 ? { type: 'fixed' as const } : {}) } }
          : {}),
      }));
      return { type: 'enqueue', queue, tasks };
    }
    case 3:
    case 4:
    case 5:
      return {
        type: 'lease',
        queue,
        workerId: `w${r.c % 3}`,
        max: 1 + (r.c % 4),
        ...(r.c % 2 === 0 ? { leaseMs: 500 + (r.b % 3000) } : {}),
      };
    case 6:
    case 7:
      return { type: 'ack', items: [{ id: gid, token: tok }, ...(r.c % 3 === 0 ? [{ id, token: tok }] : [])] };
    case 8: {
      const mode = r.c % 3;
      return {
        type: 'nack',
        id: gid,
        token: tok,
        error: 'x',
        ...(mode === 1 ? { delayMs: r.b % 1000 } : mode === 2 ? { dead: true } : {}),
      };
    }
    case 9:
      return { type: 'release', id: gid, token: tok, ...(r.c % 3 === 0 ? { holdMs: 1 + (r.b % 1500) } : {}) };
    case 10:
      return {
        type: 'extend',
        id: gid,
        token: tok,
        leaseMs: 500 + (r.b % 3000),
        progress: r.c % 100,
        ...(r.c % 2 === 0 ? { checkpoint: r.bytes } : {}),
      };
    case 11:
      if (r.c % 2 !== 0) return { type: 'promote', id };
      return { type: 'cancel', id: gid, ...(r.b % 2 === 0 ? { running: true } : {}) };
    case 12:
      return {
        type: 'update',
        id,
        priority: r.c % 5,
        ...(r.b % 2 === 0 ? { delayMs: r.c % 800 } : { payload: r.bytes }),
      };
    case 13:
      return r.c % 5 === 0
        ? { type: 'purgeQueue', queue }
        : { type: r.c % 2 === 0 ? 'pauseQueue' : 'resumeQueue', queue };
    case 14:
      return r.c % 7 === 0
        ? { type: 'deleteQueue', queue: r.b % 2 === 0 ? 'dlq' : queue, force: r.c % 2 === 0 }
        : { type: 'advanceTime' };
    case 15:
      return { type: 'redrive', queue: r.b % 2 === 0 ? 'dlq' : queue, ...(r.c % 2 === 0 ? { ids: [id] } : {}) };
    case 16:
      return { type: 'openSession', timeoutMs: 10_000 + (r.c % 20_000) };
    case 17:
      return { type: 'keepAlive' };
    case 18:
      if (r.c % 2 === 0) return { type: 'configureQueue', queue, settings: limitSettings(r) };
      return { type: 'configureQueue', queue, settings: { leaseMs: 1000 + (r.c % 3000), maxAttempts: 1 + (r.c % 3) } };
    case 19:
      return 'noop';
    case 20:
      return 'garbage';
    case 21:
      return { type: 'advanceTime' };
    default:
      return workflowStep(t, r, id, queue);
  }
}

const POLICIES = ['fail', 'ignore', 'remove'] as const;

/** Workflows and fan-out (docs/workflows.md): dependencies, flows, cancelFlow, topics. */
function workflowStep(t: Tracker, r: Raw, id: string, queue: string): Command {
  const other = String(1 + (r.c % Math.max(1, t.maxId + 1)));
  switch (r.k) {
    case 22: {
      const dependsOn = [{ id, policy: POLICIES[r.b % 3] as (typeof POLICIES)[number] }];
      if (other !== id) dependsOn.push({ id: other, policy: POLICIES[r.c % 3] as (typeof POLICIES)[number] });
      return { type: 'enqueue', queue, tasks: [{ payload: r.bytes, dependsOn }] };
    }
    case 23: {
      const leaf = (i: number): FlowNodeSpec => ({
        queue: QUEUES[(r.a + i) % 3] as string,
        task: { payload: r.bytes, priority: i % 3 },
        ...(i % 3 === 0 ? {} : { policy: POLICIES[(r.c + i) % 3] as (typeof POLICIES)[number] }),
      });
      const kids = Array.from({ length: 1 + (r.c % 3) }, (_, i) =>
        i === 0 && r.b % 2 === 0 ? { ...leaf(i), children: [leaf(i + 5)] } : leaf(i),
      );
      return { type: 'flow', root: { ...leaf(7), children: kids } };
    }
    case 24:
      return { type: 'cancelFlow', id: pick(t.roots, r.a) ?? id };
    case 25: {
      const topic = `t${r.a % 2}`;
      if (r.c % 4 === 0) return { type: 'unbindTopic', topic, queue };
      const filter: HeaderFilter[] =
        r.c % 4 === 1 ? [] : [r.c % 4 === 2 ? { header: 'h', equals: 'x' } : { header: 'h', prefix: 'x' }];
      return { type: 'bindTopic', topic, queue, ...(filter.length > 0 ? { filter } : {}) };
    }
    default:
      return {
        type: 'publish',
        topic: `t${r.a % 2}`,
        task: {
          payload: r.bytes,
          headers: { h: ['x', 'xy', 'z'][r.c % 3] as string },
          ...(r.b % 3 === 0 ? { idempotencyKey: `p${r.c % 3}` } : {}),
        },
      };
  }
}

export function append(t: Tracker, cmds: SessionCommand[], dt: number): CommandAnswer[] {
  t.mono += dt;
  const index = t.log.length + 1;
  const mono = t.mono;
  const wall = WALL0 + t.mono + t.wallSkew;
  const data = encodeEnvelope({ v: 1, mono, wall, cmds });
  t.log.push({ index, data, mono, wall, cmds });
  const answers = t.sm.apply(asLogIndex(index), data);
  t.answers.push(answers);
  observe(t, cmds, answers);
  return answers;
}

function observe(t: Tracker, cmds: SessionCommand[], answers: CommandAnswer[]): void {
  drain(t);
  for (const g of t.grants) if (g.deadline <= t.sm.lastMono()) g.ended = true;
  answers.forEach((ca, i) => {
    const cmd = cmds[i]?.cmd as Command;
    const a = ca.answer as Answer<Record<string, unknown>>;
    if (!a.ok) return;
    if (cmd.type === 'openSession') t.sessions.push({ id: a.value['session'] as string, nextSeq: 1, sent: new Map() });
    if (cmd.type === 'flow') {
      const ids = a.value['ids'] as string[];
      t.roots.push(ids[0] as string);
      for (const x of ids) t.maxId = Math.max(t.maxId, Number(x));
    }
    for (const item of (a.value['items'] as { id?: string }[] | undefined) ?? []) {
      if (typeof item.id === 'string') t.maxId = Math.max(t.maxId, Number(item.id));
    }
    if (cmd.type === 'lease') {
      for (const lt of a.value['tasks'] as LeasedTask[]) {
        t.grants.push({ id: lt.id, token: lt.token, deadline: lt.deadlineMono, ended: false });
      }
    }
    const find = (id: string, token: string): Grant | undefined =>
      t.grants.find((g) => g.id === id && g.token === token);
    if (cmd.type === 'extend') {
      const g = find(cmd.id, cmd.token);
      if (g !== undefined) g.deadline = a.value['deadlineMono'] as number;
    }
    if (cmd.type === 'nack' || cmd.type === 'release') {
      const g = find(cmd.id, cmd.token);
      if (g !== undefined) g.ended = true;
    }
    if (cmd.type === 'ack') {
      (a.value['items'] as Answer[]).forEach((r, j) => {
        const item = cmd.items[j];
        const g = item === undefined ? undefined : find(item.id, item.token);
        if (r.ok && g !== undefined) g.ended = true;
      });
    }
  });
  // purge / delete / redrive cancel leased tasks: every grant of a task that became terminal ends
  for (const e of t.events) {
    if (TERMINAL_STATES.includes(e.state)) for (const g of t.grants) if (g.id === e.id) g.ended = true;
  }
}

/** Run abstract steps against a driver instance; the tracker holds the log and every answer. */
/** Keep the last entry's events; enqueued events also cover dead letters and redrives. */
function drain(t: Tracker): void {
  t.events = t.sm.drainEvents();
  for (const e of t.events) if (e.type === 'enqueued') t.maxId = Math.max(t.maxId, Number(e.id));
}

export function buildLog(raws: Raw[], hook?: (t: Tracker) => void): Tracker {
  const t = newTracker();
  for (const r of raws) {
    const c = concretize(t, r);
    if (c === 'noop') {
      const index = t.log.length + 1;
      t.log.push({ index, data: null, mono: t.mono, wall: WALL0 + t.mono + t.wallSkew });
      t.sm.applyEmpty(asLogIndex(index));
      t.answers.push([]);
      drain(t);
    } else if (c === 'garbage') {
      t.mono += r.dt;
      const index = t.log.length + 1;
      t.log.push({ index, data: r.bytes, mono: t.mono, wall: 0 });
      t.answers.push(t.sm.apply(asLogIndex(index), r.bytes));
      drain(t);
    } else {
      const s = r.sess >= 0 ? pick(t.sessions, r.sess) : undefined;
      let sc: SessionCommand = { session: null, seq: 0, cmd: c };
      if (s !== undefined) {
        const seq = s.nextSeq++;
        s.sent.set(seq, c);
        sc = { session: s.id, seq, floor: Math.max(1, seq - 3), cmd: c };
      }
      if (r.k === 14 && r.c % 5 === 1) t.wallSkew -= 2000; // the leader's wall clock may lag: stamps are clamped
      append(t, [sc], r.dt);
    }
    hook?.(t);
  }
  return t;
}

export function replay(sm: QueueStateMachine, log: LogEntry[]): CommandAnswer[][] {
  return log.map((e) => {
    if (e.data === null) {
      sm.applyEmpty(asLogIndex(e.index));
      return [];
    }
    return sm.apply(asLogIndex(e.index), e.data);
  });
}
