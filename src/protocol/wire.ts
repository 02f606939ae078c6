// The client wire contract (client.proto), one table for the server (src/rpc) and the SDK
// (src/client): for each command its unary method, its Submit oneof field, and its request and reply
// codecs as encode/decode pairs typed by command. Adding a command touches COMMAND_WIRE only.
import type {
  AckItem,
  Command,
  CommandOf,
  CommandType,
  EnqueueItemAnswer,
  LeasedTask,
  NackAnswer,
  SessionCommand,
  TaskState,
} from './commands.js';
import type { ErrorDetail } from './errors.js';
import type { Limits } from './limits.js';
import type { ProtoMethod } from './proto.js';
import { validateCommand } from './validate.js';
import type { TokenCommandType } from './tokens.js';
import { dedupFlagsFromWire, limitSettingsFromWire, limitSpecFromWire } from './wire-limits.js';
import { SCHEDULE_COMMAND_WIRE, type ScheduleAnswers } from './wire-schedules.js';
import { SHARED_LIMIT_COMMAND_WIRE, type SharedLimitAnswers } from './wire-limits-shared.js';
import {
  NULLABLE_SETTINGS,
  asArray,
  asNumber,
  asObject,
  asOptionalNumber,
  asOptionalString,
  asString,
  errorFromWire,
  leasedTaskFromWire,
  settingsPatchToWire,
  type Message,
} from './wire-values.js';
import type { FlowAnswers } from './wire-flows.js';
import { cancelReply, dependencyFromWire, flowWire } from './wire-flows.js';
import { redriveReply, type RedriveAnswer } from './wire-redrive.js';
import type { LogIndex } from './ids.js';

/** A decode of untrusted input: the value, or the typed error naming the field. Never a throw. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: ErrorDetail };

/**
 * The commands a client sends (advanceTime and scheduleSlots are the leader's own; the token commands
 * and activateVersion come through the admin HTTP port, src/node/admin-tokens.ts, admin-versions.ts).
 */
type AdminCommandType = 'advanceTime' | 'scheduleSlots' | 'activateVersion' | TokenCommandType;
export type ClientCommandType = Exclude<CommandType, AdminCommandType>;
export type ClientCommand = CommandOf<ClientCommandType>;

/** Every command reply names the log index of the entry that answered it. */
export interface Done {
  index: number;
}

/** One ack item's outcome: acks of a batch succeed or fail one by one. */
export type AckResult = { id: string; ok: true } | { id: string; ok: false; error: ErrorDetail };

interface Answers extends ScheduleAnswers, FlowAnswers, SharedLimitAnswers {
  openSession: { session: string; timeoutMs: number };
  keepAlive: object;
  closeSession: object;
  createQueue: object;
  configureQueue: object;
  pauseQueue: object;
  resumeQueue: object;
  purgeQueue: object;
  deleteQueue: object;
  enqueue: { items: EnqueueItemAnswer[] };
  lease: { tasks: LeasedTask[]; heldMs: number };
  extend: { deadlineMono: number };
  ack: { results: AckResult[] };
  nack: NackAnswer;
  release: { state: TaskState };
  cancel: { state: TaskState; cancelRequested?: boolean };
  promote: { state: TaskState };
  update: { state: TaskState };
  redrive: RedriveAnswer;
}

/** What the reply to command T carries (beside `CommandOf<T>`, what its request carries). */
export type AnswerOf<T extends ClientCommandType> = Answers[T] & Done;

/** What the node knows of an executed command beyond the state machine's answer value. */
export interface ExecutionMeta {
  index: LogIndex | 0;
  /** How long a long-poll lease was held (ms). */
  heldMs: number;
}

export interface CommandWire<T extends ClientCommandType> {
  /** The unary method of client.proto. */
  method: string;
  /** The SubmitItem / SubmitResult oneof field, or null when Submit cannot carry it. */
  field: string | null;
  request: {
    /** SDK: a validated command as a request body (the header is added per attempt). */
    encode(cmd: CommandOf<T>): Message;
    /** Server: the command's fields of a request, not yet validated (see decodeCommand). */
    decode(req: Message): Decoded<Message>;
  };
  reply: {
    /** Server: the state machine's answer value as this command's typed answer. */
    fromMachine(cmd: CommandOf<T>, value: unknown, meta: ExecutionMeta): AnswerOf<T>;
    encode(answer: AnswerOf<T>): Message;
    /** SDK: lenient, total (a field of the wrong type becomes its zero value). */
    decode(reply: Message): AnswerOf<T>;
  };
}

type Table = { readonly [T in ClientCommandType]: CommandWire<T> };

// ---- request decoding helpers ----

/** Copies the fields of `from` that are present (proto3 `optional` fields are absent when unset). */
function pick(into: Message, from: Message, names: readonly string[]): Message {
  for (const n of names) if (from[n] !== undefined && from[n] !== null) into[n] = from[n];
  return into;
}

function ok<T>(value: T): Decoded<T> {
  return { ok: true, value };
}

function invalid(field: string, message: string): Decoded<never> {
  return { ok: false, error: { code: 'INVALID_ARGUMENT', message: `${field} ${message}`, field } };
}

const TASK_SPEC_FIELDS = [
  'priority',
  'delayMs',
  'runAt',
  'idempotencyKey',
  'group',
  'ttlMs',
  'maxAttempts',
  'maxDeliveries',
  'leaseMs',
] as const;
const SETTINGS_FIELDS = [
  'leaseMs',
  'maxAttempts',
  'maxDeliveries',
  'deadLetterQueue',
  'maxLength',
  'retentionMs',
  'taskTtlMs',
  'idempotencyWindowMs',
  'concurrency',
  'paused',
  'sharedLimit',
] as const;
const BACKOFF_FIELDS = ['type', 'delayMs', 'maxDelayMs', 'jitterPct'] as const;

function taskSpecFromWire(v: unknown): Message {
  const t = asObject(v);
  const out = pick({ payload: t['payload'] }, t, TASK_SPEC_FIELDS);
  if (Object.keys(asObject(t['headers'])).length > 0) out['headers'] = t['headers'];
  limitSpecFromWire(t, out);
  if (asArray(t['dependsOn']).length > 0) out['dependsOn'] = asArray(t['dependsOn']).map(dependencyFromWire);
  return out;
}

function settingsPatchFromWire(v: unknown): Decoded<Message> {
  const s = asObject(v);
  const out = pick({}, s, SETTINGS_FIELDS);
  if (s['backoff'] !== null && s['backoff'] !== undefined)
    out['backoff'] = pick({}, asObject(s['backoff']), BACKOFF_FIELDS);
  const unset = asArray(s['unset']);
  for (let i = 0; i < unset.length; i += 1) {
    const name = unset[i];
    if (typeof name !== 'string' || !(NULLABLE_SETTINGS as readonly string[]).includes(name))
      return invalid(`settings.unset[${i}]`, `must be one of ${NULLABLE_SETTINGS.join(', ')}`);
    out[name] = null;
  }
  return limitSettingsFromWire(s, out);
}

/** The generic request encoding: the command's fields without its type; settings patches reshaped. */
function fieldsOf(cmd: Command): Message {
  const { type: _type, ...out } = cmd as Command & Message; // a fresh object: one copy, not two
  if ('settings' in cmd && cmd.settings !== undefined) out['settings'] = settingsPatchToWire(cmd.settings);
  return out;
}

/** A request codec from the fields to copy (required ones as they are, optional ones when present). */
function fields(type: ClientCommandType, required: readonly string[], optional: readonly string[] = []) {
  return {
    encode: fieldsOf,
    decode: (r: Message): Decoded<Message> => {
      const out: Message = { type };
      for (const n of required) out[n] = r[n];
      return ok(pick(out, r, optional));
    },
  };
}

function settingsRequest(type: 'createQueue' | 'configureQueue') {
  return {
    encode: fieldsOf,
    decode: (r: Message): Decoded<Message> => {
      const settings = settingsPatchFromWire(r['settings']);
      return settings.ok ? ok({ type, queue: r['queue'], settings: settings.value }) : settings;
    },
  };
}

// ---- reply codecs ----

const doneReply = {
  fromMachine: (_cmd: unknown, _value: unknown, meta: ExecutionMeta): Done => ({ index: meta.index }),
  encode: (a: Done): Message => ({ index: a.index }),
  decode: (m: Message): Done => ({ index: asNumber(m['index']) }),
};

function stateOf(value: unknown): TaskState {
  return (typeof value === 'string' ? value : asString(asObject(value)['state'])) as TaskState;
}

const stateReply = {
  fromMachine: (_cmd: unknown, value: unknown, meta: ExecutionMeta) => ({ state: stateOf(value), index: meta.index }),
  encode: (a: { state: TaskState } & Done): Message => ({ state: a.state, index: a.index }),
  decode: (m: Message) => ({ state: asString(m['state']) as TaskState, index: asNumber(m['index']) }),
};

/** A list answered either bare or under `key`. */
function listOf(v: unknown, key: string): unknown[] {
  return Array.isArray(v) ? v : asArray(asObject(v)[key]);
}

function ackResults(cmd: { items: AckItem[] }, value: unknown): AckResult[] {
  const answers = listOf(value, 'items');
  return cmd.items.map((item, i) => {
    const a = asObject(answers[i]);
    // Per-item answers {ok, value | error}; anything else means the whole command succeeded.
    return a['ok'] === false ? { id: item.id, ok: false, error: a['error'] as ErrorDetail } : { id: item.id, ok: true };
  });
}

function ackResultFromWire(v: unknown): AckResult {
  const o = asObject(v);
  const id = asString(o['id']);
  return o['ok'] === true ? { id, ok: true } : { id, ok: false, error: errorFromWire(o['error']) };
}

function nackFromWire(m: Message): NackAnswer & Done {
  const out: NackAnswer & Done = { state: asString(m['state']) as TaskState, index: asNumber(m['index']) };
  const runAtMono = asOptionalNumber(m['runAtMono']);
  if (runAtMono !== undefined) out.runAtMono = runAtMono;
  const deadLetterId = asOptionalString(m['deadLetterId']);
  if (deadLetterId !== undefined) out.deadLetterId = deadLetterId;
  return out;
}

function enqueueItemFromWire(v: unknown): EnqueueItemAnswer {
  const o = asObject(v);
  const item: EnqueueItemAnswer = { id: asString(o['id']), deduplicated: o['deduplicated'] === true };
  dedupFlagsFromWire(o, item);
  return item;
}

export const COMMAND_WIRE = {
  openSession: {
    method: 'OpenSession',
    field: null,
    request: fields('openSession', [], ['timeoutMs']),
    reply: {
      fromMachine: (_cmd, value, meta) => {
        const v = asObject(value);
        const session = typeof value === 'string' ? value : (v['session'] ?? v['id']);
        return { session: asString(session), timeoutMs: asNumber(v['timeoutMs']), index: meta.index };
      },
      encode: (a) => ({ session: a.session, timeoutMs: a.timeoutMs, index: a.index }),
      decode: (m) => ({
        session: asString(m['session']),
        timeoutMs: asNumber(m['timeoutMs']),
        index: asNumber(m['index']),
      }),
    },
  },
  keepAlive: { method: 'KeepAlive', field: 'keepAlive', request: fields('keepAlive', []), reply: doneReply },
  closeSession: {
    method: 'CloseSession',
    field: 'closeSession',
    request: fields('closeSession', []),
    reply: doneReply,
  },
  createQueue: {
    method: 'CreateQueue',
    field: 'createQueue',
    request: settingsRequest('createQueue'),
    reply: doneReply,
  },
  configureQueue: {
    method: 'ConfigureQueue',
    field: 'configureQueue',
    request: settingsRequest('configureQueue'),
    reply: doneReply,
  },
  pauseQueue: { method: 'PauseQueue', field: 'pauseQueue', request: fields('pauseQueue', ['queue']), reply: doneReply },
  resumeQueue: {
    method: 'ResumeQueue',
    field: 'resumeQueue',
    request: fields('resumeQueue', ['queue']),
    reply: doneReply,
  },
  purgeQueue: { method: 'PurgeQueue', field: 'purgeQueue', request: fields('purgeQueue', ['queue']), reply: doneReply },
  deleteQueue: {
    method: 'DeleteQueue',
    field: 'deleteQueue',
    request: {
      encode: fieldsOf,
      decode: (r) => ok({ type: 'deleteQueue', queue: r['queue'], force: r['force'] === true }),
    },
    reply: doneReply,
  },
  enqueue: {
    method: 'Enqueue',
    field: 'enqueue',
    request: {
      encode: fieldsOf,
      decode: (r) => ok({ type: 'enqueue', queue: r['queue'], tasks: asArray(r['tasks']).map(taskSpecFromWire) }),
    },
    reply: {
      fromMachine: (_cmd, value, meta) => ({
        items: listOf(value, 'items').map(enqueueItemFromWire),
        index: meta.index,
      }),
      encode: (a) => ({ items: a.items, index: a.index }),
      decode: (m) => ({ items: asArray(m['items']).map(enqueueItemFromWire), index: asNumber(m['index']) }),
    },
  },
  lease: {
    method: 'Lease',
    field: 'lease',
    request: fields('lease', ['queue', 'workerId', 'max'], ['leaseMs']),
    reply: {
      fromMachine: (_cmd, value, meta) => ({
        tasks: listOf(value, 'tasks') as LeasedTask[],
        heldMs: Math.max(0, Math.floor(meta.heldMs)),
        index: meta.index,
      }),
      encode: (a) => ({ tasks: a.tasks, heldMs: a.heldMs, index: a.index }),
      decode: (m) => ({
        tasks: asArray(m['tasks']).map(leasedTaskFromWire),
        heldMs: asNumber(m['heldMs']),
        index: asNumber(m['index']),
      }),
    },
  },
  extend: {
    method: 'Extend',
    field: 'extend',
    request: fields('extend', ['id', 'token'], ['leaseMs', 'progress', 'checkpoint', 'secret']),
    reply: {
      fromMachine: (_cmd, value, meta) => ({
        deadlineMono: typeof value === 'number' ? value : asNumber(asObject(value)['deadlineMono']),
        index: meta.index,
      }),
      encode: (a) => ({ deadlineMono: a.deadlineMono, index: a.index }),
      decode: (m) => ({ deadlineMono: asNumber(m['deadlineMono']), index: asNumber(m['index']) }),
    },
  },
  ack: {
    method: 'Ack',
    field: 'ack',
    request: {
      encode: fieldsOf,
      decode: (r) =>
        ok({
          type: 'ack',
          items: asArray(r['items']).map((i) =>
            pick({ id: asObject(i)['id'], token: asObject(i)['token'] }, asObject(i), ['result', 'secret']),
          ),
        }),
    },
    reply: {
      fromMachine: (cmd, value, meta) => ({ results: ackResults(cmd, value), index: meta.index }),
      encode: (a) => ({ results: a.results, index: a.index }),
      decode: (m) => ({ results: asArray(m['results']).map(ackResultFromWire), index: asNumber(m['index']) }),
    },
  },
  nack: {
    method: 'Nack',
    field: 'nack',
    request: fields('nack', ['id', 'token'], ['error', 'delayMs', 'dead', 'secret']),
    reply: {
      fromMachine: (_cmd, value, meta) => nackFromWire({ ...asObject(value), index: meta.index }),
      encode: (a) => ({ ...a }),
      decode: nackFromWire,
    },
  },
  release: {
    method: 'Release',
    field: 'release',
    request: fields('release', ['id', 'token'], ['holdMs', 'secret']),
    reply: stateReply,
  },
  cancel: { method: 'Cancel', field: 'cancel', request: fields('cancel', ['id'], ['running']), reply: cancelReply },
  promote: { method: 'Promote', field: 'promote', request: fields('promote', ['id']), reply: stateReply },
  update: {
    method: 'Update',
    field: 'update',
    request: fields('update', ['id'], ['priority', 'payload', 'runAt', 'delayMs']),
    reply: stateReply,
  },
  redrive: {
    method: 'Redrive',
    field: 'redrive',
    request: {
      encode: fieldsOf,
      decode: (r) => {
        const out = pick({ type: 'redrive', queue: r['queue'] }, r, ['toQueue', 'max']);
        if (asArray(r['ids']).length > 0) out['ids'] = r['ids'];
        return ok(out);
      },
    },
    reply: redriveReply,
  },
  ...SCHEDULE_COMMAND_WIRE,
  ...flowWire({ fieldsOf, taskSpecFromWire }),
  ...SHARED_LIMIT_COMMAND_WIRE,
} as const satisfies Table;

/** The unary methods of the client commands. */
export type CommandMethod = (typeof COMMAND_WIRE)[ClientCommandType]['method'];

export const CLIENT_COMMAND_TYPES = Object.keys(COMMAND_WIRE) as ClientCommandType[];

/** The wire entry of one command type (typed by it). */
export function commandWire<T extends ClientCommandType>(type: T): CommandWire<T> {
  return COMMAND_WIRE[type] as unknown as CommandWire<T>;
}

export function isClientCommandType(type: string): type is ClientCommandType {
  return Object.prototype.hasOwnProperty.call(COMMAND_WIRE, type);
}

/** Unary method -> command type, and Submit oneof field -> command type (derived from COMMAND_WIRE). */
export const COMMAND_OF_METHOD: ReadonlyMap<string, ClientCommandType> = new Map(
  CLIENT_COMMAND_TYPES.map((t) => [COMMAND_WIRE[t].method, t]),
);
export const COMMAND_OF_SUBMIT_FIELD: ReadonlyMap<string, ClientCommandType> = new Map(
  CLIENT_COMMAND_TYPES.flatMap((t) => {
    const field = COMMAND_WIRE[t].field;
    return field === null ? [] : [[field, t] as const];
  }),
);

// ---- whole requests ----

/** The session part of a request header: sessionless (session "" and seq 0) or a session with seq ≥ 1. */
export function decodeHeader(header: unknown): Decoded<Omit<SessionCommand, 'cmd'>> {
  const h = asObject(header);
  const session = typeof h['session'] === 'string' ? h['session'] : '';
  const seq = typeof h['seq'] === 'number' ? h['seq'] : 0;
  const floor = typeof h['floor'] === 'number' ? h['floor'] : 0;
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(floor)) return invalid('header.seq', 'must be below 2^53');
  if (session === '')
    return seq !== 0 ? invalid('header.seq', 'must be 0 without a session') : ok({ session: null, seq: 0 });
  if (session.length > 64) return invalid('header.session', 'must be at most 64 characters');
  if (seq < 1) return invalid('header.seq', 'must be at least 1 with a session');
  if (floor > seq) return invalid('header.floor', 'must not exceed seq');
  return ok(floor > 0 ? { session, seq, floor } : { session, seq });
}

/** Byte fields over their limit: RESOURCE_EXHAUSTED naming the field and limit (no retryAfterMs: never retried). */
function tooLarge(cmd: Message, limits: Limits): ErrorDetail | null {
  // Hot (every task of every enqueue): field names are built only for a field over its limit.
  const over = (v: unknown, max: number): boolean => v instanceof Uint8Array && v.byteLength > max;
  const detail = (v: unknown, field: string, max: number, limit: string): ErrorDetail => ({
    code: 'RESOURCE_EXHAUSTED',
    message: `${field} is ${(v as Uint8Array).byteLength} bytes, over ${limit} (${max})`,
    field,
    limit,
  });
  const tasks = asArray(cmd['tasks']);
  for (let i = 0; i < tasks.length; i++) {
    const p = asObject(tasks[i])['payload'];
    if (over(p, limits.payloadBytesMax))
      return detail(p, `tasks[${i}].payload`, limits.payloadBytesMax, 'payloadBytesMax');
  }
  const items = asArray(cmd['items']);
  for (let i = 0; i < items.length; i++) {
    const r = asObject(items[i])['result'];
    if (over(r, limits.resultBytesMax)) return detail(r, `items[${i}].result`, limits.resultBytesMax, 'resultBytesMax');
  }
  if (over(cmd['payload'], limits.payloadBytesMax))
    return detail(cmd['payload'], 'payload', limits.payloadBytesMax, 'payloadBytesMax');
  if (over(cmd['checkpoint'], limits.checkpointBytesMax))
    return detail(cmd['checkpoint'], 'checkpoint', limits.checkpointBytesMax, 'checkpointBytesMax');
  return null;
}

/** A request's command, decoded and validated (the header aside). Never throws. */
export function decodeCommand<T extends ClientCommandType>(
  type: T,
  req: Message,
  limits: Limits,
): Decoded<CommandOf<T>> {
  const shaped = commandWire(type).request.decode(req);
  if (!shaped.ok) return shaped;
  const big = tooLarge(shaped.value, limits);
  if (big !== null) return { ok: false, error: big };
  return validateCommand(shaped.value, limits) as Decoded<CommandOf<T>>;
}

/** SDK: a validated command as its request body. */
export function encodeCommand<T extends ClientCommandType>(cmd: CommandOf<T>): Message {
  return commandWire<T>((cmd as Command).type as T).request.encode(cmd);
}

/** SDK: the typed answer of a reply to `type`. */
export function decodeAnswer<T extends ClientCommandType>(type: T, reply: Message): AnswerOf<T> {
  return commandWire(type).reply.decode(reply);
}

/** Server: the reply message of an executed command, from the state machine's answer value. */
export function encodeAnswer<T extends ClientCommandType>(
  cmd: CommandOf<T>,
  value: unknown,
  meta: ExecutionMeta,
): Message {
  const wire = commandWire<T>((cmd as Command).type as T);
  return wire.reply.encode(wire.reply.fromMachine(cmd, value, meta));
}

// ---- bytes ----

/** The loaded methods of the client service (src/rpc/proto.ts clientMethods): protobuf itself. */
export type ClientMethods = Readonly<Record<string, ProtoMethod>>;

function deserialize(
  methods: ClientMethods,
  method: string,
  side: 'request' | 'reply',
  bytes: Uint8Array,
): Decoded<Message> {
  const m = methods[method];
  if (m === undefined) return invalid('method', `${method} is not in client.proto`);
  try {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const value = side === 'request' ? m.requestDeserialize(buf) : m.responseDeserialize(buf);
    return ok(asObject(value));
  } catch {
    return invalid(side, `protobuf: undecodable ${side}`);
  }
}

/** A command request's protobuf bytes, decoded and validated (header aside). Never throws. */
export function decodeCommandBytes<T extends ClientCommandType>(
  type: T,
  bytes: Uint8Array,
  limits: Limits,
  methods: ClientMethods,
): Decoded<CommandOf<T>> {
  const msg = deserialize(methods, COMMAND_WIRE[type].method, 'request', bytes);
  return msg.ok ? decodeCommand(type, msg.value, limits) : msg;
}

/** A command reply's protobuf bytes, decoded. Never throws. */
export function decodeAnswerBytes<T extends ClientCommandType>(
  type: T,
  bytes: Uint8Array,
  methods: ClientMethods,
): Decoded<AnswerOf<T>> {
  const msg = deserialize(methods, COMMAND_WIRE[type].method, 'reply', bytes);
  return msg.ok ? ok(decodeAnswer(type, msg.value)) : msg;
}

/** A command as its request's protobuf bytes (SDK side of decodeCommandBytes). */
export function encodeCommandBytes<T extends ClientCommandType>(cmd: CommandOf<T>, methods: ClientMethods): Uint8Array {
  const wire = commandWire<T>((cmd as Command).type as T);
  return serialize(methods, wire.method, 'request', wire.request.encode(cmd));
}

/** An answer as its reply's protobuf bytes (server side of decodeAnswerBytes). */
export function encodeAnswerBytes<T extends ClientCommandType>(
  type: T,
  answer: AnswerOf<T>,
  methods: ClientMethods,
): Uint8Array {
  const wire = commandWire(type);
  return serialize(methods, wire.method, 'reply', wire.reply.encode(answer));
}

function serialize(methods: ClientMethods, method: string, side: 'request' | 'reply', msg: Message): Uint8Array {
  const m = methods[method];
  if (m === undefined) throw new Error(`raftq: ${method} is not in client.proto`);
  return side === 'request' ? m.requestSerialize(msg) : m.responseSerialize(msg);
}
