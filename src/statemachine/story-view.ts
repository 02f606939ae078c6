// A task's whole story for a read (issue 15, src/protocol/story.ts): its creation, each attempt's
// lease and end, the recorded steps (story.ts) and its end, merged in log order. Built at read time
// from what the task keeps, so it costs no memory; markers say where steps were not kept.
import type { AttemptEnd, StoryStep, TaskState } from '../protocol/index.js';
import { formatId } from '../protocol/index.js';
import type { Attempt, Task } from './records.js';
import { STATE_NAMES } from './records.js';
import type { StoryEntry } from './story.js';

/** Order of the steps one entry made (e.g. a lease expires, the task is retried, then leased again). */
const RANK: Readonly<Record<StoryStep['kind'], number>> = {
  truncated: 0,
  enqueued: 1,
  scheduled: 2,
  attempt_ended: 3,
  ready: 4,
  promoted: 4,
  updated: 4,
  replaced: 4,
  extended: 4,
  progress: 4,
  retry: 4,
  cancel_requested: 4,
  dependency: 4,
  ended: 5,
  redriven: 4,
  dead_lettered: 6,
  leased: 7,
};

function stamped(step: StoryStep, term: number | null | undefined, mono?: number | null, wall?: number): StoryStep {
  if (term) step.term = term;
  if (typeof mono === 'number') step.mono = mono;
  if (wall !== undefined) step.wall = wall;
  return step;
}

function origin(t: Task): string | undefined {
  const x = t.x;
  if (x?.redrivenFrom !== undefined) return `redriven from ${formatId(x.redrivenFrom)}`;
  const d = x?.deadLetterOf;
  if (d !== undefined) return `dead letter of ${formatId(d.id)} in ${d.queue} (${d.reason})`;
  if (x?.flow !== undefined) return x.flow === t.id ? 'root of a flow' : `in the flow of ${formatId(x.flow)}`;
  if (x?.topic !== undefined) return `published to topic ${x.topic}`;
  return undefined;
}

function attemptSteps(a: Attempt, n: number): StoryStep[] {
  const token = formatId(a.token);
  const leased = { kind: 'leased', index: a.token, attempt: n, token, workerId: a.worker } as const;
  const out = [stamped({ ...leased }, a.leasedTerm, a.leasedMono, a.leasedWall)];
  if (a.end !== null && typeof a.endedIndex === 'number') {
    const ended: StoryStep = {
      kind: 'attempt_ended',
      index: a.endedIndex,
      attempt: n,
      token,
      end: a.end as AttemptEnd,
    };
    if (a.error !== null) ended.error = a.error;
    out.push(stamped(ended, a.endedTerm, a.endedMono));
  }
  return out;
}

function recorded(e: StoryEntry): StoryStep {
  const s: StoryStep = { kind: e.kind, index: e.index };
  if (e.detail !== null) s.detail = e.detail;
  return stamped(s, e.term, e.mono, e.wall);
}

/** The story of `t`, in log order; empty for a task recorded before stories were kept. */
export function storyView(t: Task): StoryStep[] {
  const steps: StoryStep[] = [];
  if (t.enqIndex !== undefined) {
    const s: StoryStep = { kind: 'enqueued', index: t.enqIndex };
    const why = origin(t);
    if (why !== undefined) s.detail = why;
    steps.push(stamped(s, t.enqTerm, t.enqMono, t.enqWall));
  }
  const h = t.history ?? [];
  const older = t.leases - h.length;
  if (older > 0 && h[0] !== undefined) {
    const detail = `${older} earlier attempt${older === 1 ? '' : 's'} not kept`;
    steps.push({ kind: 'truncated', index: h[0].token, detail });
  }
  h.forEach((a, i) => steps.push(...attemptSteps(a, older + i + 1)));
  const s = t.story;
  if (s !== undefined) {
    for (const e of s.steps) steps.push(recorded(e));
    if (s.dropped > 0) {
      const detail = `${s.dropped} step${s.dropped === 1 ? '' : 's'} from #${s.droppedFrom} to #${s.droppedTo} not kept`;
      steps.push({ kind: 'truncated', index: s.droppedFrom, detail });
    }
  }
  if (t.endedIndex !== undefined) {
    const end: StoryStep = { kind: 'ended', index: t.endedIndex, state: STATE_NAMES[t.state] as TaskState };
    if (t.reason !== undefined) end.detail = t.reason;
    steps.push(stamped(end, t.endedTerm, t.endedMono));
  }
  // Stable: steps of one kind rank keep the order they were recorded in.
  return steps
    .map((step, i) => ({ step, i }))
    .sort((a, b) => a.step.index - b.step.index || RANK[a.step.kind] - RANK[b.step.kind] || a.i - b.i)
    .map((x) => x.step);
}
