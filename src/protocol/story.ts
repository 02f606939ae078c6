// A task's story (issue 15): every transition it went through, in log order, each with the index and
// term of the Raft entry that made it and the time of that entry (docs/observability.md). A read of
// one task carries it; the console, the CLI and the SDK show it. Older steps of a long story are
// dropped (bounded memory per task) and a `truncated` step says how many, between which entries.
import type { AttemptEnd, TaskState } from './commands.js';

export const STORY_KINDS = [
  /** Created: by an enqueue, a publish, a flow, a redrive or a dead-letter copy (detail says which). */
  'enqueued',
  /** Created by a schedule's slot firing (or a manual trigger). */
  'scheduled',
  /** Delayed → waiting: its delay or runAt came. */
  'ready',
  /** Delayed → waiting by an admin. */
  'promoted',
  /** Payload, priority, delay or runAt changed by an admin. */
  'updated',
  /** debounce: a later enqueue replaced its payload (and delay). */
  'replaced',
  /** A lease granted (an attempt starts): `attempt`, `token`, `workerId`. */
  'leased',
  /** The worker extended its lease. */
  'extended',
  /** The worker extended its lease with progress and / or a checkpoint. */
  'progress',
  /** An attempt ended (`end`, and its error): acked, nacked, released, lease_expired, cancelled. */
  'attempt_ended',
  /** Back to waiting or delayed after a failed attempt or an expired lease: backoff in detail. */
  'retry',
  /** Cancel asked while it ran. */
  'cancel_requested',
  /** One of its dependencies ended, and what that did to it. */
  'dependency',
  /** Ended (`state`, reason in detail). */
  'ended',
  /** Its dead-letter copy was made. */
  'dead_lettered',
  /** Sent back as a new task. */
  'redriven',
  /** Steps not kept (detail: how many, between which entries). */
  'truncated',
] as const;
export type StoryKind = (typeof STORY_KINDS)[number];

export interface StoryStep {
  kind: StoryKind;
  /** The log index of the entry that made the step (for `truncated`: the first step not kept). */
  index: number;
  /** Its Raft term; absent when not recorded. */
  term?: number;
  /** The entry's mono and wall stamps; absent when not recorded. */
  mono?: number;
  wall?: number;
  /** Attempt steps: the attempt's number (1-based), fencing token and worker. */
  attempt?: number;
  token?: string;
  workerId?: string;
  /** attempt_ended: how it ended. */
  end?: AttemptEnd;
  /** attempt_ended: the worker's error; ended: absent. */
  error?: string;
  /** ended: the terminal state. */
  state?: TaskState;
  /** What else there is to say (reason, backoff, fields changed, ...), for people. */
  detail?: string;
}

type Obj = Record<string, unknown>;

const num = (v: unknown): number | undefined => {
  const n = typeof v === 'string' && v !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
};
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** A story off the wire (client.proto StoryStep); lenient and total, as every value codec. */
export function storyFromWire(v: unknown): StoryStep[] | undefined {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const out: StoryStep[] = [];
  for (const item of v) {
    if (typeof item !== 'object' || item === null) continue;
    const o = item as Obj;
    const kind = str(o['kind']);
    const index = num(o['index']);
    if (kind === undefined || !(STORY_KINDS as readonly string[]).includes(kind) || index === undefined) continue;
    const s: StoryStep = { kind: kind as StoryKind, index };
    for (const k of ['term', 'mono', 'wall', 'attempt'] as const) {
      const n = num(o[k]);
      if (n !== undefined) s[k] = n;
    }
    for (const k of ['token', 'workerId', 'error', 'detail'] as const) {
      const x = str(o[k]);
      if (x !== undefined) s[k] = x;
    }
    const end = str(o['end']);
    if (end !== undefined) s.end = end as AttemptEnd;
    const state = str(o['state']);
    if (state !== undefined) s.state = state as TaskState;
    out.push(s);
  }
  return out.length > 0 ? out : undefined;
}
