// Single enqueues to one queue made in the same event-loop turn travel as one enqueue command, the
// way a worker's acks travel as one ack command (worker-acks.ts): the per-command cost (a session
// seq and header, the leader's intake, one log record, one cached answer on every node) is paid once
// per batch instead of once per task (docs/decisions.md "Concurrent single enqueues travel as one
// command"). Each caller still gets its own item. A batch is all or nothing on the broker, so a
// batch refused with nothing applied (one bad task, a full queue) is sent again task by task: each
// caller then gets exactly the answer its own command would have had. An outcome that is unknown
// (a timeout after retries) is every caller's, as it would have been for each command alone.
import type { EnqueueItemAnswer, TaskSpec } from '../protocol/commands.js';
import { ERROR_TABLE } from '../protocol/errors.js';
import { systemImmediate, type Clock } from './clock.js';
import { RaftqError } from './errors.js';

/** Sends one enqueue command of `tasks` to `queue`; one item per task, in order. */
export type SendEnqueue = (queue: string, tasks: TaskSpec[]) => Promise<EnqueueItemAnswer[]>;

interface Waiting {
  task: TaskSpec;
  bytes: number;
  resolve(item: EnqueueItemAnswer): void;
  reject(e: unknown): void;
}

/** Payload and header bytes one merged command carries at most (a lone task may be bigger). */
export const MERGED_BYTES_MAX = 1 << 20;

/** Whether a task may share a command: nothing in it refers to another task or to a key. */
export function mergeable(task: TaskSpec): boolean {
  return (
    task.idempotencyKey === undefined &&
    task.id === undefined &&
    task.dedup === undefined &&
    task.dependsOn === undefined
  );
}

function taskBytes(task: TaskSpec): number {
  let n = task.payload.byteLength;
  if (task.headers !== undefined) for (const k in task.headers) n += k.length + (task.headers[k] as string).length;
  return n;
}

/** True when the broker (or the SDK's own validation) refused the command with nothing applied. */
function notApplied(e: unknown): boolean {
  return e instanceof RaftqError && ERROR_TABLE[e.code]?.outcome === 'not_applied';
}

export class EnqueueBatcher {
  /** Tasks waiting for this turn's flush, per queue. */
  private open = new Map<string, Waiting[]>();
  private scheduled = false;

  constructor(
    private readonly send: SendEnqueue,
    private readonly clock: Clock,
    /** Tasks in one merged command at most (the broker's enqueueBatchMax). */
    private readonly tasksMax: number,
  ) {}

  /** Resolves with the task's item once its command is committed; rejects as its own command would. */
  add(queue: string, task: TaskSpec): Promise<EnqueueItemAnswer> {
    return new Promise((resolve, reject) => {
      const waiting = this.open.get(queue);
      const w: Waiting = { task, bytes: taskBytes(task), resolve, reject };
      if (waiting === undefined) this.open.set(queue, [w]);
      else waiting.push(w);
      if (!this.scheduled) {
        this.scheduled = true;
        (this.clock.immediate ?? systemImmediate)(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const open = this.open;
    this.open = new Map();
    for (const [queue, waiting] of open) {
      for (let from = 0; from < waiting.length;) {
        let to = from + 1;
        let bytes = (waiting[from] as Waiting).bytes;
        while (to < waiting.length && to - from < this.tasksMax) {
          bytes += (waiting[to] as Waiting).bytes;
          if (bytes > MERGED_BYTES_MAX) break;
          to++;
        }
        void this.run(queue, waiting.slice(from, to));
        from = to;
      }
    }
  }

  private async run(queue: string, batch: Waiting[]): Promise<void> {
    try {
      const items = await this.send(
        queue,
        batch.map((w) => w.task),
      );
      for (let i = 0; i < batch.length; i++) (batch[i] as Waiting).resolve(items[i] as EnqueueItemAnswer);
    } catch (e) {
      if (batch.length === 1 || !notApplied(e)) for (const w of batch) w.reject(e);
      else for (const w of batch) void this.run(queue, [w]);
    }
  }
}
