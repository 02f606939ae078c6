// Sessions (docs/design.md §1.5): exactly-once commands by (session, seq). A cached seq returns its
// stored answer; `floor` prunes answers the client will not retry.

import type { Answer, CommandOf, LeasedTask, SessionCommand } from '../protocol/index.js';
import { formatId } from '../protocol/index.js';
import { answerCached, answerDropped, rehashSession } from './digest.js';
import type { CachedAnswer } from './records.js';
import { H_PENDING, Session } from './records.js';
import type { MachineState } from './state.js';
import { bucket, err, ok } from './state.js';

export type Execute = (cmd: unknown, s: Session | null) => Answer;

/** Run one command of an envelope under its session's rules; `execute` runs the command itself. */
export function applyInSession(st: MachineState, sc: SessionCommand, execute: Execute): Answer {
  if (sc.session === null) return execute(sc.cmd, null);
  const s = st.sessions.get(sc.session);
  if (s === undefined || s.lastMono + s.timeoutMs <= st.mono) {
    return err('SESSION_EXPIRED', 'unknown or expired session');
  }
  if (sc.floor === undefined || sc.floor <= s.floor) return answerInSession(st, s, sc, execute, true);
  // The floor moves: the session's record is re-hashed once, after the command (with its new
  // lastMono), not once per field. Until then s.a / s.b stay what the digest sum holds, so a
  // command that removes the session (closeSession) still takes out exactly that.
  pruneFloor(st, s, Math.min(sc.floor, sc.seq));
  try {
    return answerInSession(st, s, sc, execute, false);
  } finally {
    if (st.sessions.get(s.id) === s) rehashSession(st, s);
  }
}

/** The rest of applyInSession; `rehash`: re-hash the session's record when its answer is cached. */
function answerInSession(st: MachineState, s: Session, sc: SessionCommand, execute: Execute, rehash: boolean): Answer {
  if (sc.seq < s.floor) {
    return err('FAILED_PRECONDITION', 'sequence number below the session floor', { reason: 'seq_below_floor' });
  }
  const cached = s.answers.get(sc.seq);
  if (cached !== undefined) return cached.answer as Answer;
  if (s.answers.size >= st.limits.sessionOutstandingMax) {
    return err('RESOURCE_EXHAUSTED', 'too many outstanding requests on this session', {
      limit: 'sessionOutstandingMax',
      retryAfterMs: 100,
    });
  }
  const answer = execute(sc.cmd, s);
  if (st.sessions.get(s.id) === s) {
    cacheAnswer(st, s, sc.seq, answer);
    s.lastMono = st.mono;
    if (rehash) rehashSession(st, s);
  }
  return answer;
}

/** Drops the answers below `floor` and sets it; the caller re-hashes the session's record. */
function pruneFloor(st: MachineState, s: Session, floor: number): void {
  if (floor - s.floor <= s.answers.size) {
    for (let q = s.floor; q < floor; q++) dropAnswer(st, s, q);
  } else {
    for (const seq of [...s.answers.keys()]) if (seq < floor) dropAnswer(st, s, seq);
  }
  s.floor = floor;
}

function dropAnswer(st: MachineState, s: Session, seq: number): void {
  const c = s.answers.get(seq);
  if (c === undefined) return;
  answerDropped(st, c);
  s.answers.delete(seq);
}

function cacheAnswer(st: MachineState, s: Session, seq: number, answer: Answer): void {
  const c: CachedAnswer = { answer: stripPayloads(answer), a: 0, b: 0, h: H_PENDING, s, seq };
  s.answers.set(seq, c);
  answerCached(st, c);
}

export function openSession(st: MachineState, cmd: CommandOf<'openSession'>): Answer {
  if (st.sessions.size >= st.limits.sessionsMax) {
    return err('RESOURCE_EXHAUSTED', 'too many sessions', { limit: 'sessionsMax', retryAfterMs: 1000 });
  }
  const id = formatId(st.nextSessionId++);
  const s = new Session(id, cmd.timeoutMs ?? st.limits.sessionTimeoutMsDefault, st.mono);
  st.sessions.set(id, s);
  rehashSession(st, s);
  st.sessionTimers.push({ at: bucket(st, s.lastMono + s.timeoutMs), key: id });
  return ok({ session: id, timeoutMs: s.timeoutMs });
}

export function removeSession(st: MachineState, s: Session): void {
  for (const c of s.answers.values()) answerDropped(st, c);
  st.sum.subPair(s.a, s.b);
  st.sessions.delete(s.id);
}

/** Cached session answers keep no payloads (docs/design.md §1.5): a retried lease reads the task by id. */
function stripPayloads(answer: Answer): Answer {
  if (!answer.ok) return answer;
  const v = answer.value as { tasks?: LeasedTask[] } | null;
  if (v === null || typeof v !== 'object' || !Array.isArray(v.tasks)) return answer;
  const tasks: Omit<LeasedTask, 'payload'>[] = [];
  for (let i = 0; i < v.tasks.length; i++) tasks.push(withoutPayload(v.tasks[i] as LeasedTask));
  return ok(Object.assign({}, v, { tasks })); // not a spread then `tasks`: hot, docs/decisions.md
}

/** As `({ payload, ...rest }) => rest`, keys in the same order, without the rest pattern's slow copy. */
function withoutPayload(t: LeasedTask): Omit<LeasedTask, 'payload'> {
  const out: Record<string, unknown> = {};
  const src = t as unknown as Record<string, unknown>;
  for (const k of Object.keys(src)) if (k !== 'payload') out[k] = src[k];
  return out as unknown as Omit<LeasedTask, 'payload'>;
}
