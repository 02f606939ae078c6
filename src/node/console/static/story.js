// A task's story on the console page (issue 15): its steps as a timeline with the log index and term
// of the entry that made each, and its attempts as a table.
import { h, ms, wall } from './dom.js';

/** `#index · term T` of a log entry, or null if not recorded (tasks from before it was kept). */
function entryText(index, term) {
  if (typeof index !== 'number') return null;
  return typeof term === 'number' ? `#${index} · term ${term}` : `#${index}`;
}

/**
 * The task's story as a timeline: every transition the state machine recorded, in log order, with
 * the index and term of the entry that made it (the answer to "why did this run twice?").
 */
export function storyList(t) {
  const steps = [{ index: t.enqueuedIndex, term: t.enqueuedTerm, what: t.redrivenFrom ? 'redriven' : 'enqueued' }];
  t.history.forEach((a, i) => {
    steps.push({
      index: Number(a.token),
      term: a.leasedTerm,
      what: `attempt ${i + 1}: leased to ${a.workerId}, token ${a.token}`,
    });
    if (a.end !== null) {
      const what = `attempt ${i + 1}: ${a.end}${a.error ? ` — ${a.error}` : ''}`;
      steps.push({ index: a.endedIndex, term: a.endedTerm, what });
    }
  });
  if (t.endedIndex !== undefined)
    steps.push({ index: t.endedIndex, term: t.endedTerm, what: `${t.state} (${t.reason})` });
  const known = steps.filter((s) => typeof s.index === 'number');
  if (known.length === 0) return h('p', { class: 'muted' }, 'Not recorded for this task.');
  known.sort((a, b) => a.index - b.index);
  const older = t.leases > t.history.length ? h('li', { class: 'muted' }, 'older attempts are no longer kept') : null;
  return h(
    'ol',
    { class: 'story', id: 'task-story' },
    older,
    known.map((s) =>
      h('li', { 'data-index': s.index }, h('span', { class: 'mono entry' }, entryText(s.index, s.term)), ' ', s.what),
    ),
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
