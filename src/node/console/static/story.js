// A task's story on the console page (issue 15): its steps as a timeline with the log index and term
// of the entry that made each, and its attempts as a table.
import { h, ms, wall } from './dom.js';

/** `#index · term T` of a log entry, or null if not recorded (tasks from before it was kept). */
function entryText(index, term) {
  if (typeof index !== 'number') return null;
  return typeof term === 'number' ? `#${index} · term ${term}` : `#${index}`;
}

/** What a step of the story (src/protocol/story.ts) says, for people. */
const LABELS = {
  enqueued: 'enqueued',
  scheduled: 'fired by a schedule',
  ready: 'ready',
  promoted: 'promoted',
  updated: 'updated',
  replaced: 'replaced',
  extended: 'lease extended',
  progress: 'progress',
  retry: 'retry',
  cancel_requested: 'cancel requested',
  dependency: 'dependency ended',
  dead_lettered: 'dead-lettered',
  redriven: 'redriven',
  truncated: 'not kept',
};

export function stepText(s) {
  if (s.kind === 'leased') return `attempt ${s.attempt}: leased to ${s.workerId}, token ${s.token}`;
  if (s.kind === 'attempt_ended') return `attempt ${s.attempt}: ${s.end}${s.error ? ` — ${s.error}` : ''}`;
  if (s.kind === 'ended') return `${s.state}${s.detail ? ` (${s.detail})` : ''}`;
  if (s.kind === 'truncated') return `… ${s.detail}`;
  const label = LABELS[s.kind] ?? s.kind;
  return s.detail ? `${label}: ${s.detail}` : label;
}

/** The wall time of a step: its entry's, or from its mono stamp at the read's clocks. */
function stepWall(s, asOf) {
  if (typeof s.wall === 'number') return s.wall;
  if (typeof s.mono !== 'number' || !asOf) return null;
  return asOf.wall - (asOf.mono - s.mono);
}

/**
 * The task's story as a timeline: every transition the state machine recorded, in log order, with
 * the index and term of the entry that made it and its time (the answer to "why did this run twice?").
 */
export function storyList(t, asOf) {
  const steps = Array.isArray(t.story) ? t.story : [];
  if (steps.length === 0) return h('p', { class: 'muted' }, 'Not recorded for this task.');
  return h(
    'ol',
    { class: 'story', id: 'task-story' },
    steps.map((s) => {
      const at = stepWall(s, asOf);
      return h(
        'li',
        { 'data-index': s.index, 'data-kind': s.kind, class: s.kind === 'truncated' ? 'muted' : null },
        h('span', { class: 'mono entry' }, s.kind === 'truncated' ? `#${s.index}…` : entryText(s.index, s.term)),
        ' ',
        h('span', { class: 'what' }, stepText(s)),
        ' ',
        h('span', { class: 'when muted' }, at === null ? '' : wall(at)),
      );
    }),
  );
}

export function historyTable(history, _enq, id) {
  if (history.length === 0) return h('p', { class: 'muted' }, 'No attempt yet.');
  return h(
    'table',
    { class: 'history', id: id || null },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['#', 'fencing token', 'worker', 'leased at', 'ended', 'after', 'error', 'lease entry', 'end entry'].map((x) =>
          h('th', {}, x),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      history.map((a, i) =>
        h(
          'tr',
          { 'data-attempt': i + 1, class: `end-${a.end ?? 'running'}` },
          h('td', {}, i + 1),
          h('td', { class: 'mono', 'data-token': a.token }, a.token),
          h('td', {}, a.workerId),
          h('td', {}, wall(a.leasedWall)),
          h('td', {}, a.end ?? 'running'),
          h('td', {}, a.endedMono === null ? '—' : ms(a.endedMono - a.leasedMono)),
          h('td', {}, a.error ?? ''),
          h('td', { class: 'mono' }, entryText(Number(a.token), a.leasedTerm) ?? '—'),
          h('td', { class: 'mono' }, a.end === null ? '—' : (entryText(a.endedIndex, a.endedTerm) ?? '—')),
        ),
      ),
    ),
  );
}
