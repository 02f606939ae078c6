// The client wire contract (src/protocol/wire.ts), through real protobuf bytes: every command's
// request and every answer's reply decode to what was encoded, and garbage never throws.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  TASK_STATES,
  type Command,
  type FlowNodeSpec,
  type TaskSpec,
  type TaskState,
} from '../../../src/protocol/commands.js';
import { ErrorCode, type ErrorDetail } from '../../../src/protocol/errors.js';
import { DEFAULT_LIMITS } from '../../../src/protocol/limits.js';
import { validateCommand } from '../../../src/protocol/validate.js';
import {
  CLIENT_COMMAND_TYPES,
  COMMAND_OF_METHOD,
  COMMAND_OF_SUBMIT_FIELD,
  COMMAND_WIRE,
  decodeAnswerBytes,
  decodeCommandBytes,
  encodeAnswerBytes,
  encodeCommandBytes,
  type AnswerOf,
  type ClientCommand,
  type ClientCommandType,
} from '../../../src/protocol/wire.js';
import { clientMethods } from '../../../src/rpc/proto.js';

const RUNS = 150;
const methods = clientMethods();

/** Buffers (what protobufjs decodes bytes to) as plain Uint8Arrays, for deep equality. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const name = fc.stringMatching(/^[A-Za-z0-9._:/-]{1,24}$/);
const id = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }).map(String);
const bytes = fc.uint8Array({ maxLength: 24 });
const nat = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const u32 = fc.integer({ min: 1, max: 1_000_000 });
const ms = fc.integer({ min: 1, max: DEFAULT_LIMITS.delayMsMax });
const text = fc.string({ maxLength: 24 });
const headers = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), text, { maxKeys: 4 });
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });

const taskSpec = fc
  .record(
    {
      payload: bytes,
      headers,
      priority: fc.integer({ min: -1_000_000, max: 1_000_000 }),
      delayMs: fc.integer({ min: 0, max: DEFAULT_LIMITS.delayMsMax }),
      idempotencyKey: text,
      group: text,
      ttlMs: ms,
      maxAttempts: u32,
      maxDeliveries: u32,
      leaseMs: fc.integer({ min: 1, max: DEFAULT_LIMITS.leaseMsMax }),
      key: fc.string({ minLength: 1, maxLength: 24 }),
      cost: fc.integer({ min: 1, max: 1_000_000 }),
      backoff: fc.record(
        {
          type: fc.constantFrom('fixed', 'exponential'),
          delayMs: ms,
          maxDelayMs: ms,
          jitterPct: fc.integer({ min: 0, max: 100 }),
        },
        { requiredKeys: [] },
      ),
      dedup: fc.record(
        {
          key: fc.string({ minLength: 1, maxLength: 24 }),
          mode: fc.constantFrom('active', 'throttle', 'debounce'),
          windowMs: ms,
        },
        { requiredKeys: ['key', 'mode'] },
      ),
    },
    { requiredKeys: ['payload'] },
  )
  .map((t) => {
    // dedup and a custom id are exclusive with idempotencyKey and each other: keep the arbitrary mostly valid.
    if (t.dedup === undefined) return t.idempotencyKey === undefined ? { ...t, id: `invoice-${t.payload.length}` } : t;
    const { idempotencyKey: _k, ...rest } = t;
    return rest;
  });

const rate = fc.record(
  { limit: u32, intervalMs: fc.integer({ min: 1, max: 86_400_000 }), burst: u32 },
  { requiredKeys: ['limit', 'intervalMs'] },
);
const keyLimits = fc.record(
  {
    concurrency: fc.option(u32, { nil: null }),
    rate: fc.option(rate, { nil: null }),
    weight: fc.integer({ min: 1, max: 1000 }),
    maxWaiting: fc.option(u32, { nil: null }),
  },
  { requiredKeys: [] },
);

/** A task with dependencies (no delay: they are exclusive). */
const depTaskSpec = fc.record({
  payload: bytes,
  dependsOn: fc.uniqueArray(fc.record({ id, policy: fc.constantFrom('ignore', 'remove') }, { requiredKeys: ['id'] }), {
    minLength: 1,
    maxLength: 3,
    selector: (d) => d.id,
  }),
});

/** A flow's task: no idempotency key, delay or dependencies (a flow's edges are its children). */
const flowTask = fc.record(
  { payload: bytes, headers, priority: fc.integer({ min: -5, max: 5 }) },
  { requiredKeys: ['payload'] },
);
const flowNode: fc.Arbitrary<unknown> = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.record(
    {
      queue: name,
      task: flowTask,
      policy: fc.constantFrom('ignore', 'remove'),
      children: fc.array(tie('node'), { minLength: 1, maxLength: 2 }),
    },
    { requiredKeys: ['queue', 'task'] },
  ),
})).node;
const headerFilter = fc.oneof(
  fc.record({ header: fc.string({ minLength: 1, maxLength: 8 }), equals: text }),
  fc.record({ header: fc.string({ minLength: 1, maxLength: 8 }), prefix: text }),
);

const settings = fc.record(
  {
    leaseMs: fc.integer({ min: 1, max: DEFAULT_LIMITS.leaseMsMax }),
    maxAttempts: u32,
    maxDeliveries: u32,
    backoff: fc.record(
      {
        type: fc.constantFrom('fixed', 'exponential'),
        delayMs: ms,
        maxDelayMs: ms,
        jitterPct: fc.integer({ min: 0, max: 100 }),
      },
      { requiredKeys: [] },
    ),
    deadLetterQueue: fc.option(name, { nil: null }),
    maxLength: fc.option(u32, { nil: null }),
    retentionMs: ms,
    taskTtlMs: fc.option(ms, { nil: null }),
    idempotencyWindowMs: ms,
    concurrency: fc.option(u32, { nil: null }),
    paused: fc.boolean(),
    rate: fc.option(rate, { nil: null }),
    keyLimits,
    keys: fc.dictionary(fc.stringMatching(/^[a-z0-9-]{1,8}$/), fc.option(keyLimits, { nil: null }), {
      minKeys: 1,
      maxKeys: 3,
    }),
    maxWaiting: fc.option(u32, { nil: null }),
    overflow: fc.constantFrom('refuse', 'dropOldest'),
    sharedLimit: fc.option(name, { nil: null }),
  },
  { requiredKeys: [] },
);
const sharedKeyLimits = fc.record({ concurrency: u32, rate }, { requiredKeys: [] });

/** Raw commands of every client type; validateCommand then gives the canonical form the SDK sends. */
const ARBITRARY_COMMANDS: { [T in ClientCommandType]: fc.Arbitrary<unknown> } = {
  flow: fc.record({ type: fc.constant('flow'), root: flowNode }),
  cancelFlow: fc.record({ type: fc.constant('cancelFlow'), id }),
  bindTopic: fc.record(
    { type: fc.constant('bindTopic'), topic: name, queue: name, filter: fc.array(headerFilter, { maxLength: 3 }) },
    { requiredKeys: ['type', 'topic', 'queue'] },
  ),
  unbindTopic: fc.record({ type: fc.constant('unbindTopic'), topic: name, queue: name }),
  publish: fc.record({ type: fc.constant('publish'), topic: name, task: flowTask }),
  setSharedLimit: fc.record(
    { type: fc.constant('setSharedLimit'), name, concurrency: u32, rate, keyLimits: sharedKeyLimits },
    { requiredKeys: ['type', 'name'] },
  ),
  deleteSharedLimit: fc.record({ type: fc.constant('deleteSharedLimit'), name }),
  openSession: fc.record({
    type: fc.constant('openSession'),
    timeoutMs: opt(fc.integer({ min: 1000, max: 3_600_000 })),
  }),
  keepAlive: fc.constant({ type: 'keepAlive' }),
  closeSession: fc.constant({ type: 'closeSession' }),
  createQueue: fc.record({ type: fc.constant('createQueue'), queue: name, settings }),
  configureQueue: fc.record({ type: fc.constant('configureQueue'), queue: name, settings }),
  pauseQueue: fc.record({ type: fc.constant('pauseQueue'), queue: name }),
  resumeQueue: fc.record({ type: fc.constant('resumeQueue'), queue: name }),
  purgeQueue: fc.record({ type: fc.constant('purgeQueue'), queue: name }),
  deleteQueue: fc.record({ type: fc.constant('deleteQueue'), queue: name, force: fc.boolean() }),
  enqueue: fc.record({
    type: fc.constant('enqueue'),
    queue: name,
    tasks: fc.array(fc.oneof({ arbitrary: taskSpec, weight: 4 }, { arbitrary: depTaskSpec, weight: 1 }), {
      minLength: 1,
      maxLength: 3,
    }),
  }),
  lease: fc.record({
    type: fc.constant('lease'),
    queue: name,
    workerId: text,
    max: fc.integer({ min: 1, max: 1000 }),
    leaseMs: opt(fc.integer({ min: 1, max: DEFAULT_LIMITS.leaseMsMax })),
  }),
  extend: fc.record({
    type: fc.constant('extend'),
    id,
    token: id,
    leaseMs: opt(fc.integer({ min: 1, max: DEFAULT_LIMITS.leaseMsMax })),
    progress: opt(nat),
    checkpoint: opt(bytes),
  }),
  ack: fc.record({
    type: fc.constant('ack'),
    items: fc.array(fc.record({ id, token: id, result: opt(bytes) }), { minLength: 1, maxLength: 3 }),
  }),
  nack: fc.record({
    type: fc.constant('nack'),
    id,
    token: id,
    error: opt(text),
    delayMs: opt(ms),
    dead: opt(fc.boolean()),
  }),
  release: fc.record({ type: fc.constant('release'), id, token: id, holdMs: opt(ms) }),
  cancel: fc.record({ type: fc.constant('cancel'), id, running: opt(fc.boolean()) }),
  promote: fc.record({ type: fc.constant('promote'), id }),
  update: fc.record({
    type: fc.constant('update'),
    id,
    priority: opt(fc.integer({ min: -1_000_000, max: 1_000_000 })),
    payload: opt(bytes),
    runAt: opt(nat),
  }),
  redrive: fc.record({
    type: fc.constant('redrive'),
    queue: name,
    ids: opt(fc.array(id, { minLength: 1, maxLength: 3 })),
    toQueue: opt(name),
    max: opt(fc.integer({ min: 1, max: 1000 })),
  }),
  upsertSchedule: fc
    .record({
      type: fc.constant('upsertSchedule'),
      queue: name,
      id: name,
      timing: fc.oneof(
        fc.record({
          cron: fc.constantFrom('*/5 * * * *', '0 30 6 * * 1-5', '0 6 * * *'),
          tz: opt(fc.constantFrom('Europe/Paris', 'UTC')),
        }),
        fc.record({ everyMs: fc.integer({ min: 1000, max: 86_400_000 }) }),
      ),
      startAt: opt(nat),
      limit: opt(u32),
      catchUp: opt(fc.constantFrom('none', 'latest', 'all')),
      catchUpMax: opt(fc.integer({ min: 1, max: 1000 })),
      graceMs: opt(fc.integer({ min: 0, max: 600_000 })),
      jitterMs: opt(fc.integer({ min: 0, max: 600_000 })),
      paused: opt(fc.boolean()),
      task: fc.record(
        {
          payload: bytes,
          headers,
          priority: fc.integer({ min: -1_000_000, max: 1_000_000 }),
          ttlMs: ms,
          maxAttempts: u32,
          group: text,
        },
        { requiredKeys: ['payload'] },
      ),
    })
    .map(({ timing, ...rest }) => ({ ...rest, ...timing })),
  deleteSchedule: fc.record({ type: fc.constant('deleteSchedule'), queue: name, id: name }),
  pauseSchedule: fc.record({ type: fc.constant('pauseSchedule'), queue: name, id: name }),
  resumeSchedule: fc.record({ type: fc.constant('resumeSchedule'), queue: name, id: name }),
  triggerSchedule: fc.record({ type: fc.constant('triggerSchedule'), queue: name, id: name }),
};

/** undefined-valued keys are what "absent" means to the arbitraries, not to the validator. */
function defined(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(defined);
  if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array))
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, defined(x)]),
    );
  return v;
}

/**
 * The validated command, as the wire can carry it: proto3 cannot tell an empty map from none, so an
 * empty `headers` arrives as no headers (the state machine reads both alike).
 */
function canonical(raw: unknown): Command | null {
  const checked = validateCommand(defined(raw), DEFAULT_LIMITS);
  if (!checked.ok) return null;
  const cmd = checked.value;
  const noEmptyHeaders = (t: TaskSpec): void => {
    if (t.headers !== undefined && Object.keys(t.headers).length === 0) delete t.headers;
  };
  const walk = (n: FlowNodeSpec): void => {
    noEmptyHeaders(n.task);
    n.children?.forEach(walk);
  };
  if (cmd.type === 'enqueue') cmd.tasks.forEach(noEmptyHeaders);
  if (cmd.type === 'publish') noEmptyHeaders(cmd.task);
  if (cmd.type === 'flow') walk(cmd.root);
  if (cmd.type === 'upsertSchedule') noEmptyHeaders(cmd.task);
  return cmd;
}

const state = fc.constantFrom(...TASK_STATES) as fc.Arbitrary<TaskState>;
const index = nat;
const errorDetail: fc.Arbitrary<ErrorDetail> = fc.record(
  {
    code: fc.constantFrom(...Object.values(ErrorCode)),
    message: text,
    field: text,
    reason: text,
    limit: text,
    retryAfterMs: nat,
    leaderHint: text,
  },
  { requiredKeys: ['code', 'message'] },
);
const leasedTask = fc.record(
  {
    id,
    queue: name,
    token: id,
    payload: bytes,
    headers,
    priority: fc.integer({ min: -1_000_000, max: 1_000_000 }),
    deadlineMono: nat,
    leaseMs: nat,
    attempts: u32,
    deliveries: u32,
    leases: u32,
    checkpoint: bytes,
    group: text,
    key: text,
    cost: fc.integer({ min: 2, max: 1_000_000 }),
  },
  {
    requiredKeys: [
      'id',
      'queue',
      'token',
      'headers',
      'priority',
      'deadlineMono',
      'leaseMs',
      'attempts',
      'deliveries',
      'leases',
    ],
  },
);
const done = fc.record({ index });
const stateAnswer = fc.record({ state, index });

const ARBITRARY_ANSWERS: { [T in ClientCommandType]: fc.Arbitrary<AnswerOf<T>> } = {
  openSession: fc.record({ session: text, timeoutMs: nat, index }),
  keepAlive: done,
  closeSession: done,
  createQueue: done,
  configureQueue: done,
  pauseQueue: done,
  resumeQueue: done,
  purgeQueue: done,
  deleteQueue: done,
  enqueue: fc.record({
    items: fc.array(
      fc.oneof(
        fc.record({ id, deduplicated: fc.boolean() }),
        fc.record({ id, deduplicated: fc.constant(true), replaced: fc.constant(true as const) }),
        fc.record({ id, deduplicated: fc.constant(true), throttled: fc.constant(true as const) }),
      ),
      { maxLength: 3 },
    ),
    index,
  }),
  lease: fc.record({ tasks: fc.array(leasedTask, { maxLength: 3 }), heldMs: nat, index }),
  extend: fc.record({ deadlineMono: nat, index }),
  ack: fc.record({
    results: fc.array(
      fc.oneof(
        fc.record({ id, ok: fc.constant(true as const) }),
        fc.record({ id, ok: fc.constant(false as const), error: errorDetail }),
      ),
      { maxLength: 3 },
    ),
    index,
  }),
  nack: fc.record({ state, runAtMono: nat, deadLetterId: id, index }, { requiredKeys: ['state', 'index'] }),
  release: stateAnswer,
  cancel: fc.record({ state, index, cancelRequested: fc.constant(true) }, { requiredKeys: ['state', 'index'] }),
  flow: fc.record({ ids: fc.array(id, { maxLength: 3 }), index }),
  cancelFlow: fc.record({ cancelled: fc.nat({ max: 1000 }), cancelRequested: fc.nat({ max: 1000 }), index }),
  bindTopic: done,
  unbindTopic: done,
  publish: fc.record({
    items: fc.array(fc.record({ queue: name, id, deduplicated: fc.boolean() }), { maxLength: 3 }),
    index,
  }),
  promote: stateAnswer,
  update: stateAnswer,
  redrive: fc.record({ ids: fc.array(id, { maxLength: 3 }), continuing: fc.boolean(), index }),
  upsertSchedule: fc.record({ created: fc.boolean(), index }),
  deleteSchedule: done,
  pauseSchedule: done,
  resumeSchedule: done,
  triggerSchedule: fc.record({ taskId: id, index }),
  setSharedLimit: fc.record({ created: fc.boolean(), index }),
  deleteSharedLimit: done,
};

describe('protocol - wire contract', () => {
  it('has one unary method and at most one Submit field per command, all in client.proto', () => {
    for (const type of CLIENT_COMMAND_TYPES) {
      const wire = COMMAND_WIRE[type];
      expect(methods[wire.method], wire.method).toBeDefined();
      expect(COMMAND_OF_METHOD.get(wire.method)).toBe(type);
      if (wire.field !== null) expect(COMMAND_OF_SUBMIT_FIELD.get(wire.field)).toBe(type);
    }
    // openSession, the workflow / fan-out and the shared-limit commands are unary only.
    const unaryOnly = CLIENT_COMMAND_TYPES.filter((t) => COMMAND_WIRE[t].field === null);
    expect(unaryOnly.sort()).toEqual([
      'bindTopic',
      'cancelFlow',
      'deleteSharedLimit',
      'flow',
      'openSession',
      'publish',
      'setSharedLimit',
      'unbindTopic',
    ]);
    expect(COMMAND_OF_SUBMIT_FIELD.size).toBe(CLIENT_COMMAND_TYPES.length - unaryOnly.length);
  });

  for (const type of CLIENT_COMMAND_TYPES) {
    it(`${type}: request bytes decode to the command encoded`, () => {
      fc.assert(
        fc.property(ARBITRARY_COMMANDS[type], (raw) => {
          const cmd = canonical(raw);
          fc.pre(cmd !== null);
          const decoded = decodeCommandBytes(
            type,
            encodeCommandBytes(cmd as ClientCommand, methods),
            DEFAULT_LIMITS,
            methods,
          );
          expect(decoded.ok ? plain(decoded.value) : decoded).toEqual(plain(cmd));
        }),
        { numRuns: RUNS },
      );
    });

    it(`${type}: reply bytes decode to the answer encoded`, () => {
      fc.assert(
        fc.property(ARBITRARY_ANSWERS[type] as fc.Arbitrary<AnswerOf<typeof type>>, (answer) => {
          const decoded = decodeAnswerBytes(type, encodeAnswerBytes(type, answer, methods), methods);
          expect(decoded.ok ? plain(decoded.value) : decoded).toEqual(plain(answer));
        }),
        { numRuns: RUNS },
      );
    });

    it(`${type}: random bytes never throw: a typed error or a value`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), (garbage) => {
          for (const decoded of [
            decodeCommandBytes(type, garbage, DEFAULT_LIMITS, methods),
            decodeAnswerBytes(type, garbage, methods),
          ]) {
            if (!decoded.ok) {
              expect(decoded.error.code).toBe('INVALID_ARGUMENT');
              expect(decoded.error.field).toBeTypeOf('string');
            }
          }
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('every arbitrary command type produces valid commands (the round trip is not vacuous)', () => {
    for (const type of CLIENT_COMMAND_TYPES) {
      const valid = fc.sample(ARBITRARY_COMMANDS[type], 50).filter((raw) => canonical(raw) !== null);
      expect(valid.length, type).toBeGreaterThan(25);
    }
  });
});
