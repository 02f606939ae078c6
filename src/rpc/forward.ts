// Follower forwarding (issue 18, docs/design.md §5): the client port's executor on every node. A
// command or linearizable read this node cannot serve because it is not the leader (its own executor
// answered NOT_LEADER: nothing applied) is sent to the leader it knows over the peer port, when the
// caller allows it (`forward`), with the caller's remaining deadline, and the leader's answer goes
// back as the caller's. Session stamps travel unchanged, so a retry of a forwarded command is applied
// at most once, like any retry. Bounded: calls and bytes in flight are capped (beyond: an
// RESOURCE_EXHAUSTED answer, nothing sent). A forward that brings no answer after it may have reached
// the leader is UNAVAILABLE / DEADLINE_EXCEEDED: the outcome is unknown, exactly as when the leader
// itself dies mid-call. A refusal by the leader before it ran anything gives back the local
// NOT_LEADER (with its hint), which is the truth: nothing was applied.
import type { Answer, ReadAnswer, ReadQuery, SessionCommand, TaskEvent } from '../protocol/commands.js';
import type { ErrorDetail } from '../protocol/errors.js';
import type { NodeId } from '../raft/types.js';
import type { ClientExecutor, ExecuteOptions, ExecuteResult, NodeStatus, ReadOptions } from './executor.js';
import {
  decodeExecuteResult,
  decodeReadAnswer,
  encodeExecuteBody,
  encodeReadBody,
  FORWARD_BUDGET_MS_MAX,
} from './forward-codec.js';
import { ForwardError, type ForwardKind, type ForwardSender } from './forward-link.js';

export interface ForwardingOptions {
  selfId: NodeId;
  /** Forwarded calls in flight at most (default 1024). */
  inflightMax?: number;
  /** Encoded request bytes in flight at most (default 64 MiB; one larger request still goes alone). */
  inflightBytesMax?: number;
  /** Time the leader's answer may take beyond the caller's budget to travel back (ms, default 200). */
  replyGraceMs?: number;
  /** Monotonic clock of the deadlines (default performance.now). */
  now?: () => number;
  /**
   * While calls are forwarded, how often this node's view of the leader is checked (ms, default 20):
   * a call forwarded to a node that stopped leading (paused, partitioned, dead: this node started an
   * election or follows another) is cut off at once instead of waiting out the caller's deadline.
   */
  watchEveryMs?: number;
}

interface InFlight {
  leader: NodeId;
  abort: AbortController;
  /** Set when the watch cut the call off: the leader this node follows now (null: none yet). */
  changedTo?: NodeId | null;
}

export interface ForwardingMetrics {
  /** Calls forwarded and answered by the leader (its answer may still be an error answer). */
  forwarded: number;
  /** Forwarded calls without an answer: outcome unknown. */
  failed: number;
  /** Refused by the leader before it ran anything (answered NOT_LEADER here). */
  refused: number;
  /** Not sent: the leader's channel was down, its last connection attempt failed (answered NOT_LEADER here). */
  unreachable: number;
  /** Not forwarded: the in-flight bound was reached. */
  rejectedInflight: number;
  inflight: number;
  inflightBytes: number;
}

export class ForwardingExecutor implements ClientExecutor {
  private readonly o: Required<ForwardingOptions>;
  private readonly counters: ForwardingMetrics = {
    forwarded: 0,
    failed: 0,
    refused: 0,
    unreachable: 0,
    rejectedInflight: 0,
    inflight: 0,
    inflightBytes: 0,
  };

  private readonly calls = new Set<InFlight>();
  private watch: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly inner: ClientExecutor,
    private readonly sender: ForwardSender,
    options: ForwardingOptions,
  ) {
    this.o = {
      inflightMax: 1024,
      inflightBytesMax: 64 * 1024 * 1024,
      replyGraceMs: 200,
      now: () => performance.now(),
      watchEveryMs: 20,
      ...options,
    };
  }

  /** Cuts off the forwarded calls whose leader this node no longer follows (see watchEveryMs). */
  checkLeader(): void {
    if (this.calls.size === 0) return;
    const now = this.inner.status().leader;
    for (const call of this.calls) {
      if (call.leader === now || call.changedTo !== undefined) continue;
      call.changedTo = now;
      call.abort.abort();
    }
  }

  private track(call: InFlight): () => void {
    this.calls.add(call);
    if (this.watch === null) {
      this.watch = setInterval(() => this.checkLeader(), this.o.watchEveryMs);
      this.watch.unref?.();
    }
    return () => {
      this.calls.delete(call);
      if (this.calls.size === 0 && this.watch !== null) {
        clearInterval(this.watch);
        this.watch = null;
      }
    };
  }

  async execute(cmds: SessionCommand[], opts: ExecuteOptions): Promise<ExecuteResult> {
    const local = await this.inner.execute(cmds, opts);
    const leader = opts.forward === true ? this.forwardTarget(local.answers) : null;
    if (leader === null) return local;
    const fail = (detail: ErrorDetail): ExecuteResult => ({
      answers: cmds.map(() => err(detail)),
      index: 0,
      heldMs: 0,
    });
    const budgetMs = this.budget(opts.deadline);
    if (budgetMs <= 0) return fail({ code: 'DEADLINE_EXCEEDED', message: 'deadline passed' });
    const body = encodeExecuteBody({ cmds, budgetMs, maxHoldMs: opts.maxHoldMs ?? 0 });
    const reply = await this.forward('Execute', leader, body, budgetMs, opts.signal);
    if ('refused' in reply) return reply.refused ? local : fail(reply.detail);
    const decoded = decodeExecuteResult(reply.body, cmds.length);
    if (!decoded.ok) return fail(this.unknown(leader, `undecodable reply: ${decoded.reason}`));
    return decoded.value;
  }

  async read(query: ReadQuery, opts: ReadOptions): Promise<ReadAnswer> {
    const local = await this.inner.read(query, opts);
    if (opts.consistency !== 'linearizable' || opts.forward !== true) return local;
    const leader = this.forwardTarget([local.answer]);
    if (leader === null) return local;
    const fail = (detail: ErrorDetail): ReadAnswer => ({ asOf: local.asOf, answer: err(detail) });
    const budgetMs = this.budget(opts.deadline);
    if (budgetMs <= 0) return fail({ code: 'DEADLINE_EXCEEDED', message: 'deadline passed' });
    const reply = await this.forward('Read', leader, encodeReadBody({ query, budgetMs }), budgetMs);
    if ('refused' in reply) return reply.refused ? local : fail(reply.detail);
    const decoded = decodeReadAnswer(reply.body);
    return decoded.ok ? decoded.value : fail(this.unknown(leader, `undecodable reply: ${decoded.reason}`));
  }

  status(): NodeStatus {
    return this.inner.status();
  }

  subscribe(filter: { queue?: string }, onEvent: (e: TaskEvent) => void): () => void {
    return this.inner.subscribe(filter, onEvent);
  }

  onStepDown(cb: () => void): () => void {
    return this.inner.onStepDown(cb);
  }

  metrics(): ForwardingMetrics {
    return { ...this.counters };
  }

  /** The leader to forward to: only when every answer is NOT_LEADER and another node leads. */
  private forwardTarget(answers: readonly Answer[]): NodeId | null {
    if (answers.length === 0 || !answers.every((a) => !a.ok && a.error.code === 'NOT_LEADER')) return null;
    const leader = this.inner.status().leader;
    return leader === null || leader === this.o.selfId ? null : leader;
  }

  private budget(deadline: number): number {
    return Math.min(FORWARD_BUDGET_MS_MAX, Math.floor(deadline - this.o.now()));
  }

  /** One forwarded call within its bounds: the reply body, a refusal (nothing ran) or a failure. */
  private async forward(
    kind: ForwardKind,
    leader: NodeId,
    body: Uint8Array,
    budgetMs: number,
    signal?: AbortSignal,
  ): Promise<{ body: Uint8Array } | { refused: boolean; detail: ErrorDetail }> {
    const c = this.counters;
    const full =
      c.inflight >= this.o.inflightMax ||
      (c.inflight > 0 && c.inflightBytes + body.byteLength > this.o.inflightBytesMax);
    if (full) {
      c.rejectedInflight += 1;
      const detail: ErrorDetail = {
        code: 'RESOURCE_EXHAUSTED',
        message: `${c.inflight} calls already forwarded to the leader, the most this node carries (forwardInflightMax)`,
        limit: 'forwardInflightMax',
        retryAfterMs: 50,
      };
      return { refused: false, detail };
    }
    c.inflight += 1;
    c.inflightBytes += body.byteLength;
    const call: InFlight = { leader, abort: new AbortController() };
    const onAbort = (): void => call.abort.abort();
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const untrack = this.track(call);
    try {
      const out = await this.sender.send(kind, leader, body, budgetMs + this.o.replyGraceMs, call.abort.signal);
      c.forwarded += 1;
      return { body: out };
    } catch (e) {
      const fe = e instanceof ForwardError ? e : new ForwardError(String(e), false);
      if (fe.unsent) c.unreachable += 1;
      else if (fe.refused) c.refused += 1;
      else c.failed += 1;
      if (call.changedTo !== undefined) return { refused: false, detail: this.changed(leader, call.changedTo) };
      const detail: ErrorDetail = fe.deadline
        ? { code: 'DEADLINE_EXCEEDED', message: `forwarded to leader ${leader}: deadline passed (outcome unknown)` }
        : this.unknown(leader, fe.message);
      return { refused: fe.refused, detail };
    } finally {
      untrack();
      signal?.removeEventListener('abort', onAbort);
      c.inflight -= 1;
      c.inflightBytes -= body.byteLength;
    }
  }

  private unknown(leader: NodeId, why: string): ErrorDetail {
    // No leader hint: the leader this node knows is the one that did not answer.
    return { code: 'UNAVAILABLE', message: `forwarded to leader ${leader}, no answer: ${why} (outcome unknown)` };
  }

  /** Cut off by a leader change: unknown outcome, and where the leader is now if known. */
  private changed(leader: NodeId, now: NodeId | null): ErrorDetail {
    const st = now === null ? null : this.inner.status();
    const hint = st !== null && st.leader === now && st.leaderAddress ? { leaderHint: st.leaderAddress } : {};
    const message = `forwarded to leader ${leader}, which stopped leading before it answered (outcome unknown)`;
    return { code: 'UNAVAILABLE', message, ...hint };
  }
}

function err(error: ErrorDetail): Answer {
  return { ok: false, error };
}
