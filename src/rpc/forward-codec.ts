// The bodies of follower forwarding (peer.proto ClientForward): what a follower sends the leader and
// what comes back, as msgpackr bytes. Pure and total: decoding hostile bytes returns an error string,
// never a throw. The leader validates a forwarded command exactly as its client port would (the same
// validator and limits), because a follower's bytes are input like any other.
import { tryDecode, encode, ENVELOPE_COMMANDS_MAX } from '../protocol/codec.js';
import {
  TASK_STATES,
  type Answer,
  type ReadAnswer,
  type ReadQuery,
  type SessionCommand,
} from '../protocol/commands.js';
import { isErrorDetail } from '../protocol/errors.js';
import type { Limits } from '../protocol/limits.js';
import { checkNewProposal, validateCommand } from '../protocol/validate.js';
import { CURSOR_MAX, READ_LIMIT_MAX } from '../protocol/wire-reads.js';
import { isClientCommandType } from '../protocol/wire.js';
import type { ExecuteResult } from './executor.js';
import { asLogIndex } from '../protocol/ids.js';

/** Commands of one executor call, with the time the caller has left (ms) and a lease's hold. */
export interface ExecuteBody {
  cmds: SessionCommand[];
  budgetMs: number;
  maxHoldMs: number;
}

/** One linearizable read, with the time the caller has left (ms). */
export interface ReadBody {
  query: ReadQuery;
  budgetMs: number;
}

/** Upper bound of a forwarded budget: the client port's own cap of a call's work time plus a hold. */
export const FORWARD_BUDGET_MS_MAX = 300_000;

type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

export function encodeExecuteBody(body: ExecuteBody): Uint8Array {
  return encode({ cmds: body.cmds.map(stripUndefined), budgetMs: body.budgetMs, maxHoldMs: body.maxHoldMs });
}

export function encodeReadBody(body: ReadBody): Uint8Array {
  return encode({ query: stripUndefined(body.query), budgetMs: body.budgetMs });
}

export function encodeExecuteResult(r: ExecuteResult): Uint8Array {
  return encode({ answers: r.answers, index: r.index, heldMs: r.heldMs });
}

export function encodeReadAnswer(r: ReadAnswer): Uint8Array {
  return encode({ asOf: r.asOf, answer: r.answer });
}

/** Leader side: the commands of a forwarded Execute, each checked as the client port checks it. */
export function decodeExecuteBody(bytes: Uint8Array, limits: Limits): Decoded<ExecuteBody> {
  const o = record(bytes);
  if (o === null) return bad('body: not a msgpack map');
  const cmds = o['cmds'];
  if (!Array.isArray(cmds) || cmds.length === 0 || cmds.length > ENVELOPE_COMMANDS_MAX)
    return bad(`cmds: 1..${ENVELOPE_COMMANDS_MAX} commands`);
  const budgetMs = o['budgetMs'];
  const maxHoldMs = o['maxHoldMs'];
  if (!isUint(budgetMs) || budgetMs > FORWARD_BUDGET_MS_MAX) return bad('budgetMs: not a budget');
  if (!isUint(maxHoldMs) || maxHoldMs > FORWARD_BUDGET_MS_MAX) return bad('maxHoldMs: not a hold');
  const out: SessionCommand[] = [];
  for (let i = 0; i < cmds.length; i++) {
    const sc = sessionCommand(cmds[i], limits);
    if (typeof sc === 'string') return bad(`cmds[${i}].${sc}`);
    out.push(sc);
  }
  return { ok: true, value: { cmds: out, budgetMs, maxHoldMs } };
}

/** Leader side: the query of a forwarded Read, its shape checked (the state machine judges the rest). */
export function decodeReadBody(bytes: Uint8Array): Decoded<ReadBody> {
  const o = record(bytes);
  if (o === null) return bad('body: not a msgpack map');
  const budgetMs = o['budgetMs'];
  if (!isUint(budgetMs) || budgetMs > FORWARD_BUDGET_MS_MAX) return bad('budgetMs: not a budget');
  const query = readQuery(o['query']);
  if (typeof query === 'string') return bad(`query.${query}`);
  return { ok: true, value: { query, budgetMs } };
}

/** Follower side: the leader's answers to `count` commands. */
export function decodeExecuteResult(bytes: Uint8Array, count: number): Decoded<ExecuteResult> {
  const o = record(bytes, false);
  if (o === null) return bad('reply: not a msgpack map');
  const answers = o['answers'];
  if (!Array.isArray(answers) || answers.length !== count) return bad(`reply: not ${count} answers`);
  if (!answers.every(isAnswer)) return bad('reply: malformed answer');
  const index = o['index'];
  const heldMs = o['heldMs'];
  if (!isUint(index) || !isUint(heldMs)) return bad('reply: index / heldMs');
  return { ok: true, value: { answers: answers as Answer[], index: asLogIndex(index), heldMs } };
}

/** Follower side: the leader's answer to one read. */
export function decodeReadAnswer(bytes: Uint8Array): Decoded<ReadAnswer> {
  const o = record(bytes, false);
  if (o === null) return bad('reply: not a msgpack map');
  const asOf = o['asOf'];
  if (!isRecord(asOf) || !isUint(asOf['index']) || !isUint(asOf['mono']) || !isUint(asOf['wall']))
    return bad('reply: asOf');
  if (!isAnswer(o['answer'])) return bad('reply: malformed answer');
  return {
    ok: true,
    value: {
      asOf: { index: asOf['index'], mono: asOf['mono'], wall: asOf['wall'] },
      answer: o['answer'] as Answer,
    },
  };
}

function sessionCommand(x: unknown, limits: Limits): SessionCommand | string {
  if (!isRecord(x)) return 'not a session command';
  const session = x['session'] ?? null;
  const seq = x['seq'];
  const floor = x['floor'];
  if (session !== null && (typeof session !== 'string' || session.length === 0 || session.length > 64))
    return 'session: at most 64 characters';
  if (!isUint(seq) || (session === null ? seq !== 0 : seq < 1)) return 'seq: not a sequence number';
  if (floor !== undefined && floor !== null && (!isUint(floor) || floor > seq)) return 'floor: above seq';
  const checked = validateCommand(x['cmd'], limits);
  if (!checked.ok) return `cmd: ${checked.error.message}`;
  // Only what a client port accepts: the leader's own commands (advanceTime ...) never come from a peer.
  if (!isClientCommandType(checked.value.type)) return `cmd: ${checked.value.type} is not a client command`;
  const fresh = checkNewProposal(checked.value);
  if (!fresh.ok) return `cmd: ${fresh.error.message}`;
  const sc: SessionCommand = { session, seq, cmd: fresh.value };
  if (isUint(floor) && floor > 0) sc.floor = floor;
  return sc;
}

const NAME_MAX = 256;
const QUEUE_QUERIES = new Set(['list', 'deadLetters', 'stats', 'keys']);

function readQuery(x: unknown): ReadQuery | string {
  if (!isRecord(x)) return 'not a query';
  const type = x['type'];
  const s = (key: string): boolean => typeof x[key] === 'string' && (x[key] as string).length <= NAME_MAX;
  if (type === 'queues') return { type };
  if (type === 'task') return s('id') ? { type, id: x['id'] as string } : 'id';
  if (type === 'session') return s('session') ? { type, session: x['session'] as string } : 'session';
  if (typeof type !== 'string' || !QUEUE_QUERIES.has(type)) return 'type';
  if (!s('queue')) return 'queue';
  const q: Record<string, unknown> = { type, queue: x['queue'] };
  const cursor = x['cursor'];
  if (cursor !== undefined && cursor !== null) {
    if (typeof cursor !== 'string' || cursor.length > CURSOR_MAX) return 'cursor';
    q['cursor'] = cursor;
  }
  const limit = x['limit'];
  if (limit !== undefined && limit !== null) {
    if (!isUint(limit) || limit < 1 || limit > READ_LIMIT_MAX) return 'limit';
    q['limit'] = limit;
  }
  if (type === 'list') {
    if (!TASK_STATES.includes(x['state'] as never)) return 'state';
    q['state'] = x['state'];
  }
  return q as ReadQuery;
}

function isAnswer(x: unknown): boolean {
  if (!isRecord(x)) return false;
  if (x['ok'] === true) return true;
  return x['ok'] === false && isErrorDetail(x['error']);
}

/** The decoded map; `exact`: with plain Uint8Arrays (commands; replies go on to the proto encoder as they are). */
function record(bytes: Uint8Array, exact = true): Record<string, unknown> | null {
  const decoded = tryDecode(bytes);
  if (!decoded.ok || !isRecord(decoded.value)) return null;
  return exact ? (plain(decoded.value, 0) as Record<string, unknown>) : decoded.value;
}

/** Nesting deeper than any command or answer: hostile input, cut off (a validator then refuses it). */
const DEPTH_MAX = 32;

/** msgpackr hands out Buffers: plain Uint8Array views keep commands and answers type-exact. */
function plain(v: unknown, depth: number): unknown {
  if (v instanceof Uint8Array)
    return v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v !== 'object' || v === null || depth > DEPTH_MAX) return depth > DEPTH_MAX ? null : v;
  if (Array.isArray(v)) return v.map((x) => plain(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = plain(x, depth + 1);
  return out;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x);
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function bad(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/** Top-level undefined fields dropped: the codec would carry them as an extension type. */
function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
