// The SDK's waiting and watching calls in the node simulation, each checked against the queue model:
// `waitFor` (a watch on the leader, failed by a step-down and re-established by the SDK) must answer
// with the state the task really reached, and an `events()` subscriber's events must agree with the
// tasks' final state (events between a stream's failure and its reconnection may be missed).
import type { FinalTask } from '../../../src/checker/index.js';
import { TaskFailedError } from '../../../src/client/errors.js';
import type { Queue } from '../../../src/client/queue.js';
import type { TaskEvent } from '../../../src/protocol/commands.js';
import type { Fail, QueueTracker } from './checks.js';

const TERMINAL: ReadonlySet<string> = new Set(['completed', 'dead', 'cancelled', 'expired']);

export interface ObserverCounts {
  /** waitFor calls made, and those answered (a result or a TaskFailedError), each checked. */
  waitForCalls: number;
  waitForAnswered: number;
  /** Watches a leader's step-down failed, and answered waitFor calls whose watch had been failed so. */
  waitForStepDowns: number;
  waitForReestablished: number;
  /** Events the subscriber received, and the terminal ones checked against the final read. */
  eventsReceived: number;
  eventsTerminalChecked: number;
}

export class Observers {
  readonly counts: ObserverCounts = {
    waitForCalls: 0,
    waitForAnswered: 0,
    waitForStepDowns: 0,
    waitForReestablished: 0,
    eventsReceived: 0,
    eventsTerminalChecked: 0,
  };
  /** Tasks whose watch a step-down failed (the SDK must watch again at the new leader). */
  private readonly steppedDown = new Set<string>();
  /** The last event received per task (events of one task arrive in apply order on one stream). */
  private readonly lastEvent = new Map<string, TaskEvent>();

  constructor(
    private readonly tracker: QueueTracker,
    private readonly fail: Fail,
    /** The task result every successful handler returns. */
    private readonly handlerResult: unknown,
    /** Whether some client asked to enqueue a task with this payload. */
    private readonly asked: (value: string) => boolean,
  ) {}

  /**
   * Waits for `id` to be terminal and checks the answer: a completed task resolves with the handler's
   * result, any other end rejects with TaskFailedError naming that state; the model agrees. False if
   * no answer came within `timeoutMs` (a lost request costs its call's whole timeout in the
   * simulated network, as on a connection that silently died): the caller may wait again.
   */
  async waitFor(q: Queue<Uint8Array>, id: string, timeoutMs: number): Promise<boolean> {
    this.counts.waitForCalls++;
    this.steppedDown.delete(id);
    let state: string;
    try {
      const result = await q.waitFor(id, { timeoutMs });
      if (result !== this.handlerResult)
        this.fail(`waitFor ${id}: resolved with ${JSON.stringify(result)}, not the handler's result`);
      state = 'completed';
    } catch (e) {
      if (!(e instanceof TaskFailedError)) return false; // no answer in time, or the client closed: nothing claimed
      if (e.taskId !== id) this.fail(`waitFor ${id}: TaskFailedError names task ${e.taskId}`);
      if (e.state === 'completed' || !TERMINAL.has(e.state))
        this.fail(`waitFor ${id}: TaskFailedError with state ${e.state}`);
      state = e.state;
    }
    this.counts.waitForAnswered++;
    if (this.steppedDown.has(id)) this.counts.waitForReestablished++;
    const t = this.tracker.tasks.get(id);
    if (t === undefined) this.fail(`waitFor ${id}: answered ${state} for a task never applied`);
    else if (t.state !== state) this.fail(`waitFor ${id}: answered ${state}, the task is ${t.state}`);
    return true;
  }

  /** A node answered a WaitFor for `id` with UNAVAILABLE because its leader stepped down. */
  stepDown(id: string): void {
    this.counts.waitForStepDowns++;
    this.steppedDown.add(id);
  }

  /**
   * An event from the subscriber: its task was enqueued (applied, with a payload some client sent),
   * at an index already applied.
   */
  event(ev: TaskEvent): void {
    this.counts.eventsReceived++;
    if (ev.index > this.tracker.index)
      this.fail(`events: ${ev.type} event of ${ev.id} at index ${ev.index}, beyond the applied ${this.tracker.index}`);
    const t = this.tracker.tasks.get(ev.id);
    if (t === undefined) this.fail(`events: ${ev.type} event for ${ev.id}, a task never enqueued`);
    else if (t.value !== null && !this.asked(t.value))
      this.fail(`events: ${ev.type} event for ${ev.id}, whose payload ${t.value} no client enqueued`);
    const last = this.lastEvent.get(ev.id);
    if (last === undefined || ev.index >= last.index) this.lastEvent.set(ev.id, ev);
  }

  /**
   * After the final read: every task whose (latest) event was terminal is terminal in that state in
   * the read, or was removed (retention) if absent; a task whose latest event is `removed` is absent.
   */
  checkFinal(final: readonly FinalTask[]): void {
    const byId = new Map(final.map((t) => [t.taskId, t]));
    for (const ev of this.lastEvent.values()) {
      const f = byId.get(ev.id);
      if (ev.type === 'removed') {
        if (f !== undefined) this.fail(`events: ${ev.id} removed at ${ev.index}, but read ${f.state} at the end`);
        continue;
      }
      if (!TERMINAL.has(ev.state)) continue;
      this.counts.eventsTerminalChecked++;
      if (f === undefined) {
        if (this.tracker.tasks.get(ev.id)?.removed !== true)
          this.fail(`events: ${ev.id} ${ev.state} at ${ev.index}, absent at the end yet never removed`);
      } else if (f.state !== ev.state) {
        this.fail(`events: ${ev.id} ${ev.state} at ${ev.index}, but read ${f.state} at the end`);
      }
    }
  }
}
