// Follower forwarding (issue 18): the forwarding executor forwards only what its own node answered
// NOT_LEADER (nothing applied) and only for callers that allow it; session stamps reach the leader
// unchanged; a forward without an answer is an unknown outcome (never "not applied"), a leader's
// refusal gives back the local NOT_LEADER, the caller's deadline and the in-flight bound hold. The
// forwarded bodies are validated on the leader like client input.
import { describe, expect, it } from 'vitest';
import type { Answer, ReadAnswer, ReadQuery, SessionCommand } from '../../../src/protocol/commands.js';
import { encode } from '../../../src/protocol/codec.js';
import { ERROR_TABLE, type ErrorDetail } from '../../../src/protocol/errors.js';
import { DEFAULT_LIMITS } from '../../../src/protocol/limits.js';
import type { ClientExecutor, ExecuteOptions, ExecuteResult, NodeStatus } from '../../../src/rpc/executor.js';
import { ForwardingExecutor } from '../../../src/rpc/forward.js';
import {
  decodeExecuteBody,
  decodeExecuteResult,
  decodeReadAnswer,
  decodeReadBody,
  encodeExecuteBody,
  encodeExecuteResult,
  encodeReadAnswer,
  encodeReadBody,
} from '../../../src/rpc/forward-codec.js';
import { ForwardError, type ForwardKind, type ForwardSender } from '../../../src/rpc/forward-link.js';
import { asLogIndex } from '../../../src/protocol/ids.js';

const NOT_LEADER: ErrorDetail = { code: 'NOT_LEADER', message: 'this node is not the leader', leaderHint: 'l:1' };

/** A node's own executor: answers every command and read with `answer`, and names `leader`. */
class Local implements ClientExecutor {
  executed = 0;
  constructor(
    public leader: string | null,
    public answer: Answer = { ok: false, error: NOT_LEADER },
  ) {}
  async execute(cmds: SessionCommand[]): Promise<ExecuteResult> {
    this.executed += 1;
    return { answers: cmds.map(() => this.answer), index: 0, heldMs: 0 };
  }
  async read(): Promise<ReadAnswer> {
    return { asOf: { index: 3, mono: 1, wall: 1 }, answer: this.answer };
  }
  status(): NodeStatus {
    return { leader: this.leader } as NodeStatus;
  }
  subscribe(): () => void {
    return () => undefined;
  }
  onStepDown(): () => void {
    return () => undefined;
  }
}

interface Sent {
  kind: ForwardKind;
  to: string;
  body: Uint8Array;
  timeoutMs: number;
}

/** A peer link whose every send is answered by `reply` (or held until `release`). */
class FakeLink implements ForwardSender {
  readonly sent: Sent[] = [];
  private held: (() => void)[] = [];
  constructor(public reply: (s: Sent) => Promise<Uint8Array>) {}
  send(kind: ForwardKind, to: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const s = { kind, to, body, timeoutMs };
    this.sent.push(s);
    return this.reply(s);
  }
  hold(): void {
    this.reply = (s) => new Promise((resolve) => this.held.push(() => resolve(leaderReply(s))));
  }
  release(): void {
    for (const r of this.held.splice(0)) r();
  }
  close(): void {}
}

/** What a leader answers: every command ok with its seq, at index 42. */
function leaderReply(s: Sent): Uint8Array {
  if (s.kind === 'Read')
    return encodeReadAnswer({ asOf: { index: 9, mono: 2, wall: 2 }, answer: { ok: true, value: 'r' } });
  const body = decodeExecuteBody(s.body, DEFAULT_LIMITS);
  if (!body.ok) throw new Error(body.reason);
  const answers = body.value.cmds.map((c) => ({ ok: true as const, value: { seq: c.seq } }));
  return encodeExecuteResult({ answers, index: asLogIndex(42), heldMs: 7 });
}

const enqueue = (seq: number): SessionCommand => ({
  session: 's-1',
  seq,
  floor: 1,
  cmd: { type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([1, 2, 3]) }] },
});

const now = 1_000;
const opts = (extra: Partial<ExecuteOptions> = {}): ExecuteOptions => ({
  deadline: now + 5_000,
  forward: true,
  ...extra,
});

function forwarding(local: Local, link: FakeLink, inflightMax = 8): ForwardingExecutor {
  return new ForwardingExecutor(local, link, { selfId: 'f1', inflightMax, now: () => now });
}

describe('ForwardingExecutor', () => {
  it('forwards NOT_LEADER commands to the leader with their session stamps and returns its answers', async () => {
    const link = new FakeLink(async (s) => leaderReply(s));
    const fx = forwarding(new Local('l'), link);
    const result = await fx.execute([enqueue(5), enqueue(6)], opts({ maxHoldMs: 300 }));
    expect(result).toEqual({
      answers: [
        { ok: true, value: { seq: 5 } },
        { ok: true, value: { seq: 6 } },
      ],
      index: 42,
      heldMs: 7,
    });
    expect(link.sent).toHaveLength(1);
    const sent = link.sent[0] as Sent;
    expect(sent.to).toBe('l');
    const body = decodeExecuteBody(sent.body, DEFAULT_LIMITS);
    expect(body.ok && body.value).toEqual({ cmds: [enqueue(5), enqueue(6)], budgetMs: 5_000, maxHoldMs: 300 });
    // The peer call may outlive the budget only by the grace the answer needs to come back.
    expect(sent.timeoutMs).toBe(5_200);
    expect(fx.metrics()).toMatchObject({ forwarded: 1, inflight: 0, inflightBytes: 0 });
  });

  it('does not forward for a caller that did not ask, nor when no other node leads, nor a served answer', async () => {
    const link = new FakeLink(async (s) => leaderReply(s));
    const notAsked = await forwarding(new Local('l'), link).execute([enqueue(1)], opts({ forward: false }));
    expect(notAsked.answers).toEqual([{ ok: false, error: NOT_LEADER }]);
    const noLeader = await forwarding(new Local(null), link).execute([enqueue(1)], opts());
    expect(noLeader.answers).toEqual([{ ok: false, error: NOT_LEADER }]);
    const self = await forwarding(new Local('f1'), link).execute([enqueue(1)], opts());
    expect(self.answers).toEqual([{ ok: false, error: NOT_LEADER }]);
    const served = await forwarding(new Local('l', { ok: true, value: 1 }), link).execute([enqueue(1)], opts());
    expect(served.answers).toEqual([{ ok: true, value: 1 }]);
    expect(link.sent).toEqual([]);
  });

  it('a forward without an answer is an unknown outcome without a hint to the silent leader', async () => {
    const link = new FakeLink(() => Promise.reject(new ForwardError('UNAVAILABLE: connection reset', false)));
    const result = await forwarding(new Local('l'), link).execute([enqueue(3)], opts());
    const a = result.answers[0] as Answer & { ok: false };
    expect(a.error.code).toBe('UNAVAILABLE');
    expect(ERROR_TABLE[a.error.code].outcome).toBe('unknown');
    expect(a.error.leaderHint).toBeUndefined();
    expect(a.error.message).toContain('outcome unknown');

    link.reply = () => Promise.reject(new ForwardError('DEADLINE_EXCEEDED: deadline', false, true));
    const late = await forwarding(new Local('l'), link).execute([enqueue(3)], opts());
    expect((late.answers[0] as Answer & { ok: false }).error.code).toBe('DEADLINE_EXCEEDED');

    link.reply = async () => encode({ answers: [{ ok: 'yes' }], index: 1, heldMs: 0 });
    const garbled = await forwarding(new Local('l'), link).execute([enqueue(3)], opts());
    expect((garbled.answers[0] as Answer & { ok: false }).error.code).toBe('UNAVAILABLE');
  });

  it("a leader's refusal (nothing ran) gives back the local NOT_LEADER and its hint", async () => {
    const link = new FakeLink(() => Promise.reject(new ForwardError('UNIMPLEMENTED: old leader', true)));
    const fx = forwarding(new Local('l'), link);
    const result = await fx.execute([enqueue(3)], opts());
    expect(result.answers).toEqual([{ ok: false, error: NOT_LEADER }]);
    expect(fx.metrics().refused).toBe(1);
  });

  it('a forward never sent (the leader unreachable) is NOT_LEADER too, counted apart', async () => {
    const link = new FakeLink(() => Promise.reject(new ForwardError('n2 unreachable: not sent', true, false, true)));
    const fx = forwarding(new Local('l'), link);
    const result = await fx.execute([enqueue(3)], opts());
    expect(result.answers).toEqual([{ ok: false, error: NOT_LEADER }]);
    expect(ERROR_TABLE.NOT_LEADER.outcome).not.toBe('unknown');
    expect(fx.metrics()).toMatchObject({ unreachable: 1, refused: 0, failed: 0 });
  });

  it('never forwards past the deadline, nor beyond the in-flight bound', async () => {
    const link = new FakeLink(async (s) => leaderReply(s));
    const fx = forwarding(new Local('l'), link, 2);
    const late = await fx.execute([enqueue(1)], opts({ deadline: now }));
    expect((late.answers[0] as Answer & { ok: false }).error.code).toBe('DEADLINE_EXCEEDED');
    expect(link.sent).toEqual([]);

    link.hold();
    const first = [fx.execute([enqueue(1)], opts()), fx.execute([enqueue(2)], opts())];
    const third = await fx.execute([enqueue(3)], opts());
    const refused = (third.answers[0] as Answer & { ok: false }).error;
    expect(refused).toMatchObject({ code: 'RESOURCE_EXHAUSTED', limit: 'forwardInflightMax', retryAfterMs: 50 });
    expect(ERROR_TABLE[refused.code].outcome).toBe('not_applied');
    expect(link.sent).toHaveLength(2);
    expect(fx.metrics()).toMatchObject({ inflight: 2, rejectedInflight: 1 });
    link.release();
    const done = await Promise.all(first);
    expect(done.map((r) => r.index)).toEqual([42, 42]);
    expect(fx.metrics()).toMatchObject({ inflight: 0, inflightBytes: 0 });
  });

  it('cuts off a call forwarded to a node that stopped leading, with an unknown outcome and the new hint', async () => {
    const local = new Local('l');
    const link = new FakeLink(() => new Promise(() => undefined)); // the old leader never answers
    link.send = (kind, to, body, timeoutMs, signal?: AbortSignal) =>
      new Promise((_, reject) =>
        signal?.addEventListener('abort', () => reject(new ForwardError('CANCELLED: cancelled', false))),
      );
    const fx = forwarding(local, link);
    const pending = fx.execute([enqueue(8)], opts());
    await expect.poll(() => fx.metrics().inflight).toBe(1);
    fx.checkLeader(); // still the same leader: the call goes on
    expect(fx.metrics().inflight).toBe(1);
    local.leader = 'f2';
    local.status = () => ({ leader: 'f2', leaderAddress: 'f2:7000' }) as NodeStatus;
    fx.checkLeader();
    const a = (await pending).answers[0] as Answer & { ok: false };
    expect(a.error).toMatchObject({ code: 'UNAVAILABLE', leaderHint: 'f2:7000' });
    expect(ERROR_TABLE[a.error.code].outcome).toBe('unknown');
    expect(fx.metrics()).toMatchObject({ inflight: 0, failed: 1 });
  });

  it('watches the leader on its own while calls are forwarded (an election cuts them off)', async () => {
    const local = new Local('l');
    const link = new FakeLink(() => new Promise(() => undefined));
    link.send = (kind, to, body, timeoutMs, signal?: AbortSignal) =>
      new Promise((_, reject) => signal?.addEventListener('abort', () => reject(new ForwardError('CANCELLED', false))));
    const fx = new ForwardingExecutor(local, link, { selfId: 'f1', watchEveryMs: 5 });
    const pending = fx.execute([enqueue(8)], { deadline: performance.now() + 60_000, forward: true });
    await expect.poll(() => fx.metrics().inflight).toBe(1);
    local.leader = null; // this node started an election
    const a = (await pending).answers[0] as Answer & { ok: false };
    expect(a.error.code).toBe('UNAVAILABLE');
    expect(a.error.leaderHint).toBeUndefined();
  });

  it('forwards linearizable reads only; stale reads are this node’s', async () => {
    const link = new FakeLink(async (s) => leaderReply(s));
    const fx = forwarding(new Local('l'), link);
    const q: ReadQuery = { type: 'list', queue: 'q', state: 'waiting', limit: 10 };
    const lin = await fx.read(q, { consistency: 'linearizable', deadline: now + 1_000, forward: true });
    expect(lin).toEqual({ asOf: { index: 9, mono: 2, wall: 2 }, answer: { ok: true, value: 'r' } });
    const body = decodeReadBody((link.sent[0] as Sent).body);
    expect(body.ok && body.value).toEqual({ query: q, budgetMs: 1_000 });
    const stale = await fx.read(q, { consistency: 'stale', deadline: now + 1_000, forward: true });
    expect(stale.answer).toEqual({ ok: false, error: NOT_LEADER });
    expect(link.sent).toHaveLength(1);
  });
});

describe('forward bodies', () => {
  it('round-trip commands, reads and answers exactly', () => {
    const cmds = [enqueue(1), { session: null, seq: 0, cmd: { type: 'openSession' as const } }];
    const body = decodeExecuteBody(encodeExecuteBody({ cmds, budgetMs: 10, maxHoldMs: 0 }), DEFAULT_LIMITS);
    expect(body.ok && body.value.cmds).toEqual(cmds);
    const answers: Answer[] = [
      { ok: true, value: { items: [{ id: '7', payload: new Uint8Array([9]) }] } },
      { ok: false, error: NOT_LEADER },
    ];
    const r = decodeExecuteResult(encodeExecuteResult({ answers, index: asLogIndex(3), heldMs: 1 }), 2);
    // Replies keep the codec's Buffers (the proto encoder takes them as they are): compare as bytes.
    expect(r.ok && normalized(r.value)).toEqual({ answers, index: 3, heldMs: 1 });
    const ra = decodeReadAnswer(
      encodeReadAnswer({ asOf: { index: 1, mono: 2, wall: 3 }, answer: answers[1] as Answer }),
    );
    expect(ra.ok && ra.value.answer).toEqual(answers[1]);
    expect(decodeReadBody(encodeReadBody({ query: { type: 'queues' }, budgetMs: 5 })).ok).toBe(true);
  });

  it('refuse malformed input from a peer, naming the field, without throwing', () => {
    const cases: [unknown, string][] = [
      [new Uint8Array([0x01]), 'body'],
      [{ cmds: [], budgetMs: 1, maxHoldMs: 0 }, 'cmds'],
      [{ cmds: [enqueue(1)], budgetMs: -1, maxHoldMs: 0 }, 'budgetMs'],
      [{ cmds: [{ ...enqueue(1), seq: 0 }], budgetMs: 1, maxHoldMs: 0 }, 'cmds[0].seq'],
      [{ cmds: [{ ...enqueue(1), cmd: { type: 'advanceTime' } }], budgetMs: 1, maxHoldMs: 0 }, 'cmds[0].cmd'],
      [
        { cmds: [{ ...enqueue(1), cmd: { type: 'enqueue', queue: '', tasks: [] } }], budgetMs: 1, maxHoldMs: 0 },
        'cmds[0].cmd',
      ],
    ];
    for (const [value, field] of cases) {
      const bytes = value instanceof Uint8Array ? value : encode(value);
      const d = decodeExecuteBody(bytes, DEFAULT_LIMITS);
      expect(d.ok, field).toBe(false);
      if (!d.ok) expect(d.reason.startsWith(field), d.reason).toBe(true);
    }
    expect(decodeReadBody(encode({ query: { type: 'list', queue: 'q', state: 'nope' }, budgetMs: 1 })).ok).toBe(false);
    expect(decodeReadBody(encode({ query: { type: 'drop' }, budgetMs: 1 })).ok).toBe(false);
    expect(decodeExecuteResult(encode({ answers: [], index: 0, heldMs: 0 }), 1).ok).toBe(false);
  });
});

/** Buffers as plain Uint8Arrays, for deep equality. */
function normalized(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(normalized);
  if (typeof v === 'object' && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalized(x)]));
  return v;
}
