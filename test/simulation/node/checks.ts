// The white-box queue checks of the node simulation, run as entries are applied and answers return:
// a model of every task rebuilt from the state machines' events (fed by whichever node first applies
// each index, since state-machine safety is checked separately by digests), the lease model checked
// on the leader's clock (`mono` deadlines), the answers clients receive checked against it, and the
// workers' lease beliefs checked against what their SDK really does (handler running, signal fired).
// What a client history can show (lost, duplicated or phantom tasks, idempotency keys, a completion
// twice, stale acks accepted after a newer grant, overlapping beliefs, final reads) is judged by
// src/checker from the history in history.ts, not here.
import type { Answer, Command, TaskEvent, TaskState, TaskView } from '../../../src/protocol/commands.js';
import type { QueueStateMachine } from '../../../src/statemachine/index.js';

type End = 'acked' | 'nacked' | 'released' | 'expired' | 'cancelled';

interface Attempt {
  worker: string;
  end: End | null;
  /** The lease deadline (mono) this attempt last had. */
  deadline: number;
}

interface TrackedTask {
  id: string;
  queue: string;
  value: string | null;
  state: TaskState;
  lease: { token: string; deadline: number } | null;
  attempts: Map<string, Attempt>;
  removed: boolean;
}

const TERMINAL: ReadonlySet<string> = new Set(['completed', 'dead', 'cancelled', 'expired']);
const decoder = new TextDecoder();

export type Fail = (what: string) => void;

export class QueueTracker {
  /** Highest index whose events were folded in. */
  index = 0;
  readonly tasks = new Map<string, TrackedTask>();
  counts = {
    enqueued: 0,
    leased: 0,
    completed: 0,
    expired: 0,
    extended: 0,
    nacked: 0,
    released: 0,
    dead: 0,
    removed: 0,
    deadUndecodable: 0,
  };

  constructor(private readonly fail: Fail) {}

  /** A node applied `index` (a Normal entry stamped `mono`) producing `events`. */
  applied(index: number, mono: number, events: readonly TaskEvent[], sm: QueueStateMachine): void {
    if (index !== this.index + 1) return;
    this.index = index;
    for (const ev of events) this.event(ev, index, mono, sm);
  }

  private view(sm: QueueStateMachine, id: string): TaskView | null {
    const r = sm.read({ type: 'task', id });
    return r.answer.ok ? (r.answer.value as TaskView) : null;
  }

  private event(ev: TaskEvent, index: number, mono: number, sm: QueueStateMachine): void {
    if (ev.index !== index) this.fail(`event of task ${ev.id} names index ${ev.index}, applied ${index}`);
    if (ev.type === 'enqueued') return this.enqueued(ev, sm);
    const t = this.tasks.get(ev.id);
    if (t === undefined) {
      this.fail(`${ev.type} event for unknown task ${ev.id} at ${index}`);
      return;
    }
    if (t.removed) this.fail(`${ev.type} event for removed task ${ev.id} at ${index}`);
    if (TERMINAL.has(t.state) && ev.type !== 'removed')
      this.fail(`${ev.type} event for terminal (${t.state}) task ${ev.id} at ${index}`);
    switch (ev.type) {
      case 'leased':
        this.leased(t, ev, index, mono, sm);
        break;
      case 'extended': {
        this.counts.extended++;
        const l = t.lease;
        if (l === null || ev.token !== l.token) {
          this.fail(`stale token accepted: extend of ${t.id} with ${ev.token} at ${index}, lease ${l?.token}`);
        } else if (l.deadline <= mono) {
          this.fail(`extend of ${t.id} accepted at ${index} (mono ${mono}) after its deadline ${l.deadline}`);
        }
        const v = this.view(sm, t.id);
        if (l !== null && v?.lease) {
          l.deadline = v.lease.deadlineMono;
          const a = t.attempts.get(l.token);
          if (a) a.deadline = l.deadline;
        }
        break;
      }
      case 'completed':
        this.counts.completed++;
        this.endLease(t, 'acked', index, mono, true);
        break;
      case 'failed':
        this.counts.nacked++;
        this.endLease(t, 'nacked', index, mono, true);
        break;
      case 'released':
        this.counts.released++;
        this.endLease(t, 'released', index, mono, true);
        break;
      case 'lease_expired':
        this.counts.expired++;
        this.endLease(t, 'expired', index, mono, false);
        break;
      case 'dead':
        this.counts.dead++;
        // Every payload in the simulation is decodable: such a dead letter is a worker-side mistake.
        if (this.view(sm, t.id)?.lastError?.startsWith('undecodable payload') === true) this.counts.deadUndecodable++;
        if (t.lease !== null) {
          const byExpiry = ev.reason === 'max_deliveries';
          this.endLease(t, byExpiry ? 'expired' : 'nacked', index, mono, !byExpiry);
        }
        break;
      case 'cancelled':
      case 'expired':
        if (t.lease !== null) this.fail(`task ${t.id} ${ev.type} while leased (at ${index})`);
        break;
      case 'removed':
        this.counts.removed++;
        if (!TERMINAL.has(t.state)) this.fail(`non-terminal task ${t.id} (${t.state}) removed at ${index}`);
        t.removed = true;
        return;
      default:
        break;
    }
    t.state = ev.state;
  }

  private enqueued(ev: TaskEvent, sm: QueueStateMachine): void {
    this.counts.enqueued++;
    if (this.tasks.has(ev.id)) this.fail(`task id ${ev.id} enqueued twice`);
    const v = this.view(sm, ev.id);
    if (v === null) {
      this.fail(`enqueued task ${ev.id} cannot be read`);
      return;
    }
    this.tasks.set(ev.id, {
      id: ev.id,
      queue: v.queue,
      value: decoder.decode(v.payload),
      state: ev.state,
      lease: null,
      attempts: new Map(),
      removed: false,
    });
  }

  private leased(t: TrackedTask, ev: TaskEvent, index: number, mono: number, sm: QueueStateMachine): void {
    this.counts.leased++;
    const token = ev.token ?? '';
    if (token !== String(index)) this.fail(`fencing token ${token} of ${t.id} is not its granting index ${index}`);
    if (t.attempts.has(token)) this.fail(`token ${token} granted twice for ${t.id}`);
    if (t.lease !== null) {
      if (t.lease.deadline > mono) {
        this.fail(
          `two valid leases: ${t.id} leased at ${index} (mono ${mono}) while ${t.lease.token} runs to ${t.lease.deadline}`,
        );
      }
      this.endLease(t, 'expired', index, mono, false);
    }
    const v = this.view(sm, t.id);
    const worker = v?.lease?.workerId ?? '';
    t.lease = { token, deadline: v?.lease?.deadlineMono ?? 0 };
    t.attempts.set(token, { worker, end: null, deadline: t.lease.deadline });
  }

  /** The current lease ended: by the holder's command (`byHolder`) it must still have been valid. */
  private endLease(t: TrackedTask, end: End, index: number, mono: number, byHolder: boolean): void {
    const l = t.lease;
    if (l === null) {
      this.fail(`task ${t.id}: ${end} at ${index} without a lease`);
      return;
    }
    if (byHolder && l.deadline <= mono) {
      this.fail(
        `stale token accepted: ${end} of ${t.id}/${l.token} at ${index} (mono ${mono}) after deadline ${l.deadline}`,
      );
    }
    if (!byHolder && end === 'expired' && l.deadline > mono) {
      this.fail(`lease ${t.id}/${l.token} expired at mono ${mono} before its deadline ${l.deadline}`);
    }
    const a = t.attempts.get(l.token);
    if (a) a.end = end;
    t.lease = null;
  }

  /** A command's answer as the client service got it from a node (index: the entry that carried it). */
  answered(cmd: Command, answer: Answer, index: number): void {
    if (!answer.ok) return;
    if (index > this.index) this.fail(`answer at index ${index} before any node applied it (${this.index})`);
    const v = answer.value as Record<string, unknown>;
    switch (cmd.type) {
      case 'lease': {
        for (const lt of (v['tasks'] ?? []) as { id: string; token: string }[]) {
          const a = this.tasks.get(lt.id)?.attempts.get(lt.token);
          if (a === undefined || a.worker !== cmd.workerId) {
            this.fail(`lease answer gives ${lt.id}/${lt.token} to ${cmd.workerId}, granted to ${a?.worker}`);
          }
        }
        break;
      }
      case 'ack': {
        const items = (v['items'] ?? []) as Answer[];
        cmd.items.forEach((item, i) => {
          if (items[i]?.ok === true) this.endedAs(item.id, item.token, 'acked');
        });
        break;
      }
      case 'nack':
        this.endedAs(cmd.id, cmd.token, 'nacked');
        break;
      case 'release':
        this.endedAs(cmd.id, cmd.token, 'released');
        break;
      case 'extend':
        if (this.tasks.get(cmd.id)?.attempts.get(cmd.token) === undefined) {
          this.fail(`extend of ${cmd.id} with never-granted token ${cmd.token} answered ok`);
        }
        break;
      default:
        break;
    }
  }

  private endedAs(id: string, token: string, end: End): void {
    const a = this.tasks.get(id)?.attempts.get(token);
    if (a === undefined || a.end !== end) {
      this.fail(
        `stale token accepted: ${end} of ${id}/${token} answered ok, but the attempt ended ${a?.end ?? 'never'}`,
      );
    }
  }

  /** The deadline (mono) of attempt (id, token) as last applied, or null. */
  deadlineOf(id: string, token: string): number | null {
    return this.tasks.get(id)?.attempts.get(token)?.deadline ?? null;
  }

  /** Tasks not yet terminal (liveness: none should remain once faults stop and workers drain). */
  unfinished(): string[] {
    const out: string[] = [];
    for (const t of this.tasks.values()) if (!TERMINAL.has(t.state) && !t.removed) out.push(`${t.id}:${t.state}`);
    return out;
  }
}

interface Belief {
  worker: string;
  token: string;
  grantAt: number;
  /** True time the holder stopped believing (handler ended, signal fired, ack/nack/release sent). */
  endAt: number | null;
  /** docs/design.md §2's belief end in true time, as computed from the wire (first send + heldMs + ...). */
  formulaEnd: number;
}

/**
 * Worker belief intervals (docs/design.md §2): when a worker receives a grant for a task, no other
 * worker may still believe it holds that task; and a worker whose handler runs past the formula's
 * belief end must have had its AbortSignal fired by then.
 */
export class BeliefChecker {
  private readonly beliefs = new Map<string, Belief[]>();
  overlaps = 0;
  grants = 0;
  /** Grants that reached their worker after their belief end (held nothing). */
  grantsPastBelief = 0;

  constructor(
    private readonly fail: Fail,
    private readonly now: () => number,
  ) {}

  granted(worker: string, taskId: string, token: string, formulaEnd: number): void {
    this.grants++;
    const list = this.beliefs.get(taskId) ?? [];
    const t = this.now();
    if (formulaEnd <= t) {
      // Arrived past its belief end (a late or replayed answer): the SDK holds nothing, it gives it back.
      this.grantsPastBelief++;
      if (!list.some((b) => b.token === token)) list.push({ worker, token, grantAt: t, endAt: t, formulaEnd });
      this.beliefs.set(taskId, list);
      return;
    }
    for (const b of list) {
      if (b.endAt !== null || b.token === token) continue;
      this.overlaps++;
      this.fail(
        `belief overlap: ${worker} receives ${taskId}/${token} at ${t.toFixed(1)} while ${b.worker} still believes ` +
          `it holds ${b.token} (granted ${b.grantAt.toFixed(1)}, belief to ${b.formulaEnd.toFixed(1)})`,
      );
    }
    if (list.some((b) => b.token === token)) return;
    list.push({ worker, token, grantAt: t, endAt: null, formulaEnd });
    this.beliefs.set(taskId, list);
  }

  extended(taskId: string, token: string, formulaEnd: number): void {
    const b = this.find(taskId, token);
    if (b !== undefined && b.endAt === null && this.now() < b.formulaEnd && formulaEnd > b.formulaEnd) {
      b.formulaEnd = formulaEnd;
    }
  }

  /** The holder stopped acting on the task (handler end, abort, or its ack/nack/release went out). */
  ended(taskId: string, token: string): void {
    const b = this.find(taskId, token);
    if (b !== undefined && b.endAt === null) b.endAt = this.now();
  }

  /**
   * At the formula's belief end: unless the holder stopped, or its SDK fired the signal (`aborted`,
   * also before a handler started), it is past its belief end.
   */
  beliefDue(taskId: string, token: string, aborted: boolean): void {
    const b = this.find(taskId, token);
    if (b === undefined || b.endAt !== null) return;
    if (aborted) {
      b.endAt = this.now();
      return;
    }
    if (this.now() > b.formulaEnd + 1) {
      this.fail(
        `worker ${b.worker} still works on ${taskId}/${token} at ${this.now().toFixed(1)}, past its belief end ${b.formulaEnd.toFixed(1)}`,
      );
    }
  }

  hasEnded(taskId: string, token: string): boolean {
    const b = this.find(taskId, token);
    return b !== undefined && b.endAt !== null;
  }

  worker(taskId: string, token: string): string | null {
    return this.find(taskId, token)?.worker ?? null;
  }

  formulaEndOf(taskId: string, token: string): number | null {
    return this.find(taskId, token)?.formulaEnd ?? null;
  }

  /** Tokens are unique per task, so (task, token) names one grant. */
  private find(taskId: string, token: string): Belief | undefined {
    return this.beliefs.get(taskId)?.find((b) => b.token === token);
  }
}
