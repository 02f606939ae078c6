// A task's story (issue 15, src/protocol/story.ts): the transitions a task goes through besides its
// creation, its attempts and its end (those live in the task's own fields and its attempt history),
// each recorded with the index, term and stamps of the entry that made it. Replicated state: in the
// snapshot and the digest, and deterministic (the entry's index, term and stamps; no clock).
// Bounded per task: past STORY_STEPS_MAX, the step after the first STORY_HEAD ones is dropped (the
// start of the story and its latest steps are what explain it) and the gap is counted.
import type { Hasher } from './hash.js';
import type { Task } from './records.js';
import type { MachineState } from './state.js';

/** The recorded kinds (the others of src/protocol/story.ts are derived at read time). */
export type RecordedKind =
  | 'scheduled'
  | 'ready'
  | 'promoted'
  | 'updated'
  | 'replaced'
  | 'extended'
  | 'progress'
  | 'retry'
  | 'cancel_requested'
  | 'dependency'
  | 'dead_lettered'
  | 'redriven';

/** One recorded step. Every field is always present (one hidden class). */
export interface StoryEntry {
  kind: RecordedKind;
  index: number;
  /** 0: the entry was applied without a term. */
  term: number;
  mono: number;
  wall: number;
  detail: string | null;
}

export interface Story {
  steps: StoryEntry[];
  /** Steps dropped, and the indexes of the first and last of them (0 while none). */
  dropped: number;
  droppedFrom: number;
  droppedTo: number;
}

/** Recorded steps kept per task; the memory bound (a few KiB for a task extended all day). */
export const STORY_STEPS_MAX = 32;
/** The first steps, always kept. */
export const STORY_HEAD = 4;
/** Details are made here, from bounded fields; this caps them anyway. */
const DETAIL_MAX = 200;

/** Inside mut(): record a step of `t` at the entry being applied. */
export function note(st: MachineState, t: Task, kind: RecordedKind, detail: string | null = null): void {
  const s = t.story ?? (t.story = { steps: [], dropped: 0, droppedFrom: 0, droppedTo: 0 });
  if (s.steps.length >= STORY_STEPS_MAX) {
    const gone = s.steps.splice(STORY_HEAD, 1)[0] as StoryEntry;
    if (s.dropped === 0) s.droppedFrom = gone.index;
    s.droppedTo = gone.index;
    s.dropped++;
  }
  const d = detail !== null && detail.length > DETAIL_MAX ? `${detail.slice(0, DETAIL_MAX - 1)}…` : detail;
  s.steps.push({ kind, index: st.index, term: st.term, mono: st.mono, wall: st.wall, detail: d });
}

/** The story's part of a task's hash (only when it has one: tasks without hash as before). */
export function hashStory(h: Hasher, s: Story | undefined): void {
  if (s === undefined) return;
  h.tag(11).int(s.dropped).int(s.droppedFrom).int(s.droppedTo).int(s.steps.length);
  for (const e of s.steps) h.str(e.kind).int(e.index).int(e.term).int(e.mono).int(e.wall).optStr(e.detail);
}
