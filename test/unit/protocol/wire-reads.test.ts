// The read half of the wire contract (src/protocol/wire-reads.ts), through real protobuf bytes:
// each read's query and reply, WaitFor and the Events message decode to what was encoded.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  TASK_STATES,
  type AsOf,
  type AttemptRecord,
  type KeyUsage,
  type QueueStats,
  type ReadQuery,
  type TaskEvent,
  type TaskState,
  type TaskView,
} from '../../../src/protocol/commands.js';
import { EVENTS_WIRE, READ_WIRE, WAIT_FOR_WIRE, type ReadMethod } from '../../../src/protocol/wire-reads.js';
import type { SharedLimitView } from '../../../src/protocol/index.js';
import type { Message } from '../../../src/protocol/wire-values.js';
import { clientMethods } from '../../../src/rpc/proto.js';
import { asLogIndex, asTaskId } from '../../../src/protocol/ids.js';

const RUNS = 100;
const methods = clientMethods();

function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function viaRequest(method: string, msg: Message): Message {
  const m = methods[method];
  if (m === undefined) throw new Error(method);
  return m.requestDeserialize(m.requestSerialize(msg)) as Message;
}

function viaReply(method: string, msg: Message): Message {
  const m = methods[method];
  if (m === undefined) throw new Error(method);
  return m.responseDeserialize(m.responseSerialize(msg)) as Message;
}

const name = fc.stringMatching(/^[A-Za-z0-9._:/-]{1,24}$/);
const id = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }).map(String);
const nat = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const u32 = fc.integer({ min: 0, max: 1_000_000 });
const text = fc.string({ maxLength: 16 });
const bytes = fc.uint8Array({ maxLength: 16 });
const state = fc.constantFrom(...TASK_STATES) as fc.Arbitrary<TaskState>;
const asOf: fc.Arbitrary<AsOf> = fc.record({ index: nat, mono: nat, wall: nat });

const attempt: fc.Arbitrary<AttemptRecord> = fc.record({
  token: id,
  workerId: text,
  leasedMono: nat,
  leasedWall: nat,
  end: fc.option(fc.constantFrom('acked', 'nacked', 'released', 'lease_expired', 'cancelled'), { nil: null }),
  endedMono: fc.option(nat, { nil: null }),
  error: fc.option(text, { nil: null }),
});

const taskView: fc.Arbitrary<TaskView> = fc.record(
  {
    id,
    queue: name,
    state,
    payload: bytes,
    headers: fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), text, { maxKeys: 3 }),
    priority: fc.integer({ min: -1_000_000, max: 1_000_000 }),
    group: text,
    idempotencyKey: text,
    attempts: u32,
    deliveries: u32,
    leases: u32,
    maxAttempts: u32,
    maxDeliveries: u32,
    enqueuedMono: nat,
    enqueuedWall: nat,
    runAt: fc.record({ clock: fc.constantFrom('mono' as const, 'wall' as const), at: nat }),
    lease: fc.record({ token: id, workerId: text, deadlineMono: nat, expired: fc.boolean() }),
    progress: nat,
    checkpoint: bytes,
    result: bytes,
    lastError: text,
    reason: text,
    endedMono: nat,
    history: fc.array(attempt, { maxLength: 2 }),
    deadLetterOf: fc.record({ id, queue: name, reason: text, history: fc.array(attempt, { maxLength: 2 }) }),
    deadLetterId: id,
    redrivenFrom: id,
    key: text,
    cost: fc.integer({ min: 2, max: 1_000_000 }),
    customId: text,
  },
  {
    requiredKeys: [
      'id',
      'queue',
      'state',
      'payload',
      'headers',
      'priority',
      'attempts',
      'deliveries',
      'leases',
      'maxAttempts',
      'maxDeliveries',
      'enqueuedMono',
      'enqueuedWall',
      'history',
    ],
  },
);

const rate = fc.record(
  { limit: fc.integer({ min: 1, max: 1_000_000 }), intervalMs: fc.integer({ min: 1, max: 86_400_000 }), burst: u32 },
  { requiredKeys: ['limit', 'intervalMs'] },
);
const keyLimits = fc.record(
  {
    concurrency: fc.option(fc.integer({ min: 1, max: 1_000_000 }), { nil: null }),
    rate: fc.option(rate, { nil: null }),
    weight: fc.integer({ min: 1, max: 1000 }),
    maxWaiting: fc.option(fc.integer({ min: 1, max: 1_000_000 }), { nil: null }),
  },
  { requiredKeys: [] },
);
/** The optional limit settings of issue 13 (absent or present, nulls inside key limits). */
const LIMIT_SETTINGS = {
  rate: fc.option(rate, { nil: undefined }),
  keyLimits: fc.option(keyLimits, { nil: undefined }),
  keys: fc.option(fc.dictionary(fc.stringMatching(/^[a-z0-9]{1,8}$/), keyLimits, { minKeys: 1, maxKeys: 3 }), {
    nil: undefined,
  }),
  maxWaiting: fc.option(u32, { nil: undefined }),
  overflow: fc.option(fc.constantFrom('refuse' as const, 'dropOldest' as const), { nil: undefined }),
  sharedLimit: fc.option(name, { nil: undefined }),
};

const stats: fc.Arbitrary<QueueStats> = fc.record({
  queue: name,
  counts: fc.record(Object.fromEntries(TASK_STATES.map((s) => [s, nat])) as Record<TaskState, fc.Arbitrary<number>>),
  oldestWaitingAgeMs: fc.option(nat, { nil: null }),
  totals: fc.record({
    enqueued: nat,
    completed: nat,
    dead: nat,
    cancelled: nat,
    expired: nat,
    failed: nat,
    leaseExpired: nat,
    removedByRetention: nat,
  }),
  settings: fc.record({
    leaseMs: nat,
    maxAttempts: u32,
    maxDeliveries: u32,
    backoff: fc.record({
      type: fc.constantFrom('fixed' as const, 'exponential' as const),
      delayMs: nat,
      maxDelayMs: nat,
      jitterPct: fc.integer({ min: 0, max: 100 }),
    }),
    deadLetterQueue: fc.option(name, { nil: null }),
    maxLength: fc.option(nat, { nil: null }),
    retentionMs: nat,
    taskTtlMs: fc.option(nat, { nil: null }),
    idempotencyWindowMs: nat,
    concurrency: fc.option(u32, { nil: null }),
    paused: fc.boolean(),
    ...LIMIT_SETTINGS,
  }),
});

const page = fc.record({ items: fc.array(taskView, { maxLength: 2 }), nextCursor: fc.option(text, { nil: null }) });

const QUERIES: { [M in ReadMethod]: fc.Arbitrary<ReadQuery> } = {
  GetTask: fc.record({ type: fc.constant('task' as const), id }),
  ListTasks: fc.record(
    {
      type: fc.constant('list' as const),
      queue: name,
      state,
      cursor: fc.string({ maxLength: 64 }),
      limit: fc.integer({ min: 1, max: 1000 }),
    },
    { requiredKeys: ['type', 'queue', 'state'] },
  ),
  ListDeadLetters: fc.record(
    {
      type: fc.constant('deadLetters' as const),
      queue: name,
      cursor: fc.string({ maxLength: 64 }),
      limit: fc.integer({ min: 1, max: 1000 }),
    },
    { requiredKeys: ['type', 'queue'] },
  ),
  QueueStats: fc.record({ type: fc.constant('stats' as const), queue: name }),
  ListQueues: fc.constant({ type: 'queues' as const }),
  ListKeys: fc.record(
    {
      type: fc.constant('keys' as const),
      queue: name,
      cursor: fc.string({ maxLength: 64 }),
      limit: fc.integer({ min: 1, max: 1000 }),
    },
    { requiredKeys: ['type', 'queue'] },
  ),
  GetSchedule: fc.record({ type: fc.constant('schedule' as const), queue: name, id: name }),
  ListSchedules: fc.record({ type: fc.constant('schedules' as const), queue: name }, { requiredKeys: ['type'] }),
  ListSharedLimits: fc.constant({ type: 'sharedLimits' as const }),
};

describe('protocol - wire contract, reads', () => {
  for (const method of Object.keys(QUERIES) as ReadMethod[]) {
    it(`${method}: request bytes decode to the query encoded`, () => {
      fc.assert(
        fc.property(QUERIES[method], (query) => {
          const wire = READ_WIRE[method];
          expect(wire.request.decode(viaRequest(method, wire.request.encode(query)))).toEqual({
            ok: true,
            value: query,
          });
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('GetTask and WaitFor: the task read decodes to the task encoded', () => {
    fc.assert(
      fc.property(taskView, asOf, (task, at) => {
        const reply = viaReply('GetTask', READ_WIRE.GetTask.reply.encode(task, at));
        expect(plain(READ_WIRE.GetTask.reply.decode(reply))).toEqual(plain({ task, asOf: at }));
        const waited = viaReply('WaitFor', WAIT_FOR_WIRE.reply.encode(task, at));
        expect(plain(WAIT_FOR_WIRE.reply.decode(waited).task)).toEqual(plain(task));
      }),
      { numRuns: RUNS },
    );
  });

  it('ListSharedLimits: the limits decode to the limits encoded', () => {
    const rateArb = fc.record(
      { limit: fc.integer({ min: 1, max: 1000 }), intervalMs: fc.integer({ min: 1, max: 86_400_000 }), burst: u32 },
      { requiredKeys: ['limit', 'intervalMs'] },
    );
    const view: fc.Arbitrary<SharedLimitView> = fc.record(
      {
        name,
        concurrency: fc.integer({ min: 1, max: 1000 }),
        rate: rateArb,
        keyLimits: fc.record({ concurrency: fc.integer({ min: 1, max: 1000 }), rate: rateArb }, { requiredKeys: [] }),
        queues: fc.array(name, { maxLength: 3 }),
        leased: nat,
        inUse: nat,
        tokens: fc.option(nat, { nil: null }),
        keys: nat,
      },
      { requiredKeys: ['name', 'queues', 'leased', 'inUse', 'tokens', 'keys'] },
    );
    fc.assert(
      fc.property(fc.array(view, { maxLength: 3 }), asOf, (limits, at) => {
        const reply = viaReply('ListSharedLimits', READ_WIRE.ListSharedLimits.reply.encode(limits, at));
        expect(plain(READ_WIRE.ListSharedLimits.reply.decode(reply))).toEqual(plain({ limits, asOf: at }));
      }),
      { numRuns: RUNS },
    );
  });

  it('ListTasks: a page decodes to the page encoded', () => {
    fc.assert(
      fc.property(page, asOf, (p, at) => {
        const reply = viaReply('ListTasks', READ_WIRE.ListTasks.reply.encode(p, at));
        expect(plain(READ_WIRE.ListTasks.reply.decode(reply))).toEqual(plain({ ...p, asOf: at }));
      }),
      { numRuns: RUNS },
    );
  });

  it('QueueStats: stats decode to the stats encoded', () => {
    fc.assert(
      fc.property(stats, asOf, (s, at) => {
        const reply = viaReply('QueueStats', READ_WIRE.QueueStats.reply.encode(s, at));
        expect(READ_WIRE.QueueStats.reply.decode(reply)).toEqual({ stats: s, asOf: at });
      }),
      { numRuns: RUNS },
    );
  });

  it('ListKeys: a page of key usage decodes to the page encoded', () => {
    const usage: fc.Arbitrary<KeyUsage> = fc.record({
      key: text,
      leased: nat,
      inUse: nat,
      waiting: nat,
      weight: fc.integer({ min: 1, max: 1000 }),
      concurrency: fc.option(nat, { nil: null }),
      tokens: fc.option(nat, { nil: null }),
      heldUntilMono: fc.option(nat, { nil: null }),
    });
    const keyPage = fc.record({ items: fc.array(usage, { maxLength: 3 }), nextCursor: fc.option(text, { nil: null }) });
    fc.assert(
      fc.property(keyPage, asOf, (p, at) => {
        const reply = viaReply('ListKeys', READ_WIRE.ListKeys.reply.encode(p, at));
        expect(READ_WIRE.ListKeys.reply.decode(reply)).toEqual({ ...p, asOf: at });
      }),
      { numRuns: RUNS },
    );
  });

  it('WaitFor request and Events: decode what was encoded', () => {
    const event: fc.Arbitrary<TaskEvent> = fc.record(
      {
        type: fc.constantFrom('enqueued', 'leased', 'completed', 'removed'),
        id: id.map(asTaskId),
        queue: name,
        index: nat.map(asLogIndex),
        state,
        token: id,
        reason: text,
      },
      { requiredKeys: ['type', 'id', 'queue', 'index', 'state'] },
    );
    fc.assert(
      fc.property(id, u32, fc.option(name, { nil: undefined }), event, (taskId, timeoutMs, queue, e) => {
        const wait = viaRequest('WaitFor', WAIT_FOR_WIRE.request.encode(taskId, timeoutMs));
        expect(WAIT_FOR_WIRE.request.decode(wait)).toEqual({ ok: true, value: { id: taskId, timeoutMs } });
        const filter = queue === undefined ? {} : { queue };
        const sub = viaRequest('Events', EVENTS_WIRE.request.encode(filter));
        expect(EVENTS_WIRE.request.decode(sub)).toEqual({ ok: true, value: filter });
        expect(EVENTS_WIRE.message.decode(viaReply('Events', EVENTS_WIRE.message.encode(e)))).toEqual(e);
      }),
      { numRuns: RUNS },
    );
  });
});
