// The raftq web console page: renders the node's state stream (server-sent events from
// /console/api/events) and asks the JSON API for tasks. Plain DOM, no framework; every value from
// the cluster is set as text, never as HTML.
/* global EventSource, fetch, URLSearchParams, uPlot, setTimeout, clearTimeout */

import { $, h, ms, unknown, val, wall } from './dom.js';
import { openKeys, refreshKeys } from './keys.js';
import { historyTable, storyList } from './story.js';

const STATES = ['waiting', 'delayed', 'leased', 'completed', 'dead', 'cancelled', 'expired'];
const CHART_POINTS = 120;
const PAGE_SIZE = 25;
/** A follower the leader has not heard from for this long is shown in red. */
const LATE_MS = 2000;

// ------------------------------------------------------------------ state

const view = {
  last: null,
  rates: new Map(), // queue -> { prev, t[], enq[], comp[], fail[], plot }
  list: null, // { queue, state, cursors: [], page, next }
  taskId: null,
  lastRefresh: 0,
};

// ------------------------------------------------------------------ cluster

function renderCluster(c) {
  $('node-name').textContent = `node ${c.node} · cluster ${c.clusterId}`;
  const leader = c.leader === null ? 'none known' : `${c.leader}${c.leaderAddress ? ` (${c.leaderAddress})` : ''}`;
  const sum = $('cluster-summary');
  sum.replaceChildren(
    kv('this node', c.node),
    kv('role', h('span', { class: `role role-${c.role}`, id: 'self-role' }, c.role)),
    kv('term', c.term),
    kv('leader', h('strong', { id: 'leader' }, leader)),
    kv('commit', c.commitIndex),
    kv('applied', c.appliedIndex),
    kv('ready', c.ready ? 'yes' : 'no'),
  );
  const rows = c.members.map((m) =>
    h(
      'tr',
      { class: m.self ? 'self' : '', 'data-member': m.id },
      h('td', {}, m.id, m.self ? h('span', { class: 'muted' }, ' (this node)') : null),
      h('td', {}, h('span', { class: `role role-${m.role}` }, m.role)),
      h('td', {}, m.address || unknown()),
      h('td', {}, val(m.term)),
      h('td', {}, val(m.commitIndex)),
      h('td', {}, val(m.appliedIndex)),
      h('td', {}, val(m.matchIndex)),
      h('td', {}, m.lagEntries === null ? unknown() : `${m.lagEntries} entries`),
      h(
        'td',
        { class: late(c, m) ? 'late' : '' },
        m.self ? '—' : m.lastContactMs === null ? unknown() : `${ms(m.lastContactMs)} ago`,
      ),
      h('td', { class: 'mono' }, val(m.storageId)),
      h('td', {}, m.recovering ? `yes, to index ${m.recovering.index}` : m.known ? 'no' : unknown()),
      fsyncCell(m.fsync),
    ),
  );
  $('members').tBodies[0].replaceChildren(...rows);
  $('leader-changes').replaceChildren(
    ...c.leaderChanges.map((x) => h('li', {}, `${wall(x.at)} — term ${x.term}: ${x.leader ?? 'no leader'}`)),
  );
}

/** The member's own fsync latency over the last minute: p50 / p99, the count and max in the title. */
function fsyncCell(f) {
  if (!f) return h('td', { class: 'fsync' }, unknown());
  const title = `${f.writes} durable writes in the last ${ms(f.windowMs)}, slowest ${fsyncMs(f.maxMs)}`;
  return h('td', { class: 'fsync', 'data-fsync': f.writes, title }, `${fsyncMs(f.p50Ms)} / ${fsyncMs(f.p99Ms)}`);
}

/** Fsyncs are often well under a millisecond: two significant digits, in ms. */
function fsyncMs(n) {
  return `${n < 10 ? n.toPrecision(2) : Math.round(n)} ms`;
}

/** Only a leader hears every member all the time; a follower rarely hears the other followers. */
function late(c, m) {
  return c.role === 'leader' && !m.self && (m.lastContactMs === null || m.lastContactMs > LATE_MS);
}

function kv(k, v) {
  return h('span', { class: 'kv' }, h('span', { class: 'k' }, k), ' ', h('span', { class: 'v' }, v));
}

// ------------------------------------------------------------------ queues

function renderQueues(read, at) {
  const fresh = $('freshness');
  if (read.stale) {
    const when = read.asOf.wall > 0 ? `, written ${wall(read.asOf.wall)}` : '';
    fresh.textContent = `stale: this node's applied state as of index ${read.asOf.index}${when}`;
    fresh.className = 'pill warn';
  } else {
    fresh.textContent = `linearizable as of index ${read.asOf.index}`;
    fresh.className = 'pill ok';
  }
  if (!read.answer.ok) {
    $('queue-table').tBodies[0].replaceChildren(
      h('tr', {}, h('td', { colspan: 12 }, `${read.answer.error.code}: ${read.answer.error.message}`)),
    );
    return;
  }
  const queues = read.answer.value.queues;
  $('no-queues').hidden = queues.length > 0;
  $('queue-table').tBodies[0].replaceChildren(...queues.map(queueRow));
  syncQueueSelect(queues.map((q) => q.queue));
  for (const q of queues) addRates(q, at);
}

function queueRow(q) {
  const s = q.settings;
  const name = q.queue;
  const deadCount = q.counts.dead;
  return h(
    'tr',
    { 'data-queue': name },
    h('td', {}, h('a', { href: '#tasks', onclick: () => openList(name, 'waiting') }, name)),
    ...STATES.map((st) => h('td', { class: 'num', 'data-count': st }, q.counts[st])),
    h('td', {}, q.oldestWaitingAgeMs === null ? '—' : ms(q.oldestWaitingAgeMs)),
    h('td', {}, s.paused ? h('span', { class: 'pill warn' }, 'paused') : 'running'),
    h(
      'td',
      { class: 'settings' },
      `lease ${ms(s.leaseMs)}, ${s.maxAttempts} attempts, ${s.maxDeliveries} deliveries, backoff ${s.backoff.type} ${ms(s.backoff.delayMs)}`,
      s.deadLetterQueue ? `, DLQ ${s.deadLetterQueue}` : '',
      s.concurrency !== null ? `, concurrency ${s.concurrency}` : '',
      s.maxLength !== null ? `, max length ${s.maxLength}` : '',
    ),
    h(
      'td',
      { class: 'actions' },
      s.paused
        ? h('button', { onclick: () => act(`Resume queue ${name}?`, { type: 'resumeQueue', queue: name }) }, 'Resume')
        : h('button', { onclick: () => act(`Pause queue ${name}?`, { type: 'pauseQueue', queue: name }) }, 'Pause'),
      h(
        'button',
        {
          class: 'danger',
          onclick: () =>
            act(`Purge queue ${name}? Every task not yet finished is cancelled.`, { type: 'purgeQueue', queue: name }),
        },
        'Purge',
      ),
      h(
        'button',
        { onclick: () => openList(name, 'deadLetters') },
        `Dead letters${deadCount ? ` (${deadCount})` : ''}`,
      ),
      h('button', { onclick: () => openKeys(name), 'data-keys': name }, 'Keys'),
    ),
  );
}

function syncQueueSelect(names) {
  const sel = $('list-queue');
  const have = [...sel.options].map((o) => o.value).join('\n');
  if (have === names.join('\n')) return;
  const cur = sel.value;
  sel.replaceChildren(...names.map((n) => h('option', { value: n }, n)));
  if (names.includes(cur)) sel.value = cur;
}

/** Rates from successive totals, per second of the serving node's wall clock between pushes. */
function addRates(q, at) {
  let r = view.rates.get(q.queue);
  if (!r) {
    r = { prev: null, t: [], enq: [], comp: [], fail: [], plot: null };
    view.rates.set(q.queue, r);
  }
  const now = at / 1000;
  const tot = q.totals;
  // Pushes come at uneven times (sooner after task events): one point per second at most, so a
  // single task finishing a few milliseconds after the last push does not draw a spike.
  if (r.prev && now - r.prev.t < 1) return;
  if (r.prev) {
    const dt = now - r.prev.t;
    r.t.push(now);
    r.enq.push(Math.max(0, (tot.enqueued - r.prev.enq) / dt));
    r.comp.push(Math.max(0, (tot.completed - r.prev.comp) / dt));
    r.fail.push(Math.max(0, (tot.failed + tot.dead - r.prev.fail) / dt));
    for (const a of [r.t, r.enq, r.comp, r.fail]) if (a.length > CHART_POINTS) a.shift();
  }
  r.prev = { t: now, enq: tot.enqueued, comp: tot.completed, fail: tot.failed + tot.dead };
  drawChart(q.queue, r);
}

function drawChart(name, r) {
  if (typeof uPlot === 'undefined' || r.t.length < 2) return;
  const data = [r.t, r.enq, r.comp, r.fail];
  if (r.plot) {
    r.plot.setData(data);
    return;
  }
  const box = h('div', { class: 'chart', 'data-chart': name }, h('h3', {}, `${name}: tasks per second`));
  $('charts').append(box);
  r.plot = new uPlot(
    {
      width: 420,
      height: 160,
      legend: { live: false },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      series: [
        {},
        { label: 'enqueued', stroke: '#2f6fde', width: 2 },
        { label: 'completed', stroke: '#1e9e5a', width: 2 },
        { label: 'failed', stroke: '#d9534f', width: 2 },
      ],
    },
    data,
    box,
  );
}

// ------------------------------------------------------------------ tasks

async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  return body;
}

function openList(queue, state) {
  $('list-queue').value = queue;
  $('list-state').value = state;
  const filter = {};
  for (const [name, id] of [
    ['group', 'f-group'],
    ['key', 'f-key'],
    ['header', 'f-header'],
  ]) {
    const v = $(id).value.trim();
    if (v) filter[name] = v;
  }
  view.list = { queue, state, filter, cursors: [undefined], page: 0, next: null };
  void loadList();
}

async function loadList() {
  const l = view.list;
  if (!l) return;
  const params = new URLSearchParams({ queue: l.queue, state: l.state, limit: String(PAGE_SIZE), ...l.filter });
  const cursor = l.cursors[l.page];
  if (cursor) params.set('cursor', cursor);
  let r;
  try {
    r = await api(`/console/api/tasks?${params}`);
  } catch (e) {
    return toast(`list: ${e.message}`, true);
  }
  if (view.list !== l) return;
  $('task-list-box').hidden = false;
  const dl = l.state === 'deadLetters';
  const filters = Object.entries(l.filter).map(([k, v]) => `${k} ${v}`);
  const scanned = r.answer.ok && filters.length ? ` (${r.answer.value.scanned} scanned)` : '';
  $('list-title').textContent =
    `${l.queue} · ${dl ? 'dead letters' : l.state}` +
    (filters.length ? ` · ${filters.join(', ')}${scanned}` : '') +
    (r.stale ? ` · stale (index ${r.asOf.index})` : '');
  $('redrive-all').hidden = !dl;
  const body = $('task-list').tBodies[0];
  if (!r.answer.ok) {
    body.replaceChildren(h('tr', {}, h('td', { colspan: 7 }, `${r.answer.error.code}: ${r.answer.error.message}`)));
    return;
  }
  const { items, nextCursor } = r.answer.value;
  l.next = nextCursor;
  body.replaceChildren(
    ...(items.length === 0 ? [h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'none'))] : items.map(listRow)),
  );
  $('page-no').textContent = `page ${l.page + 1}`;
  $('page-prev').disabled = l.page === 0;
  $('page-next').disabled = nextCursor === null;
}

function listRow(t) {
  const dl = view.list?.state === 'deadLetters';
  return h(
    'tr',
    { 'data-task': t.id },
    h('td', {}, h('a', { href: '#tasks', onclick: () => openTask(t.id) }, t.id)),
    h('td', {}, t.state),
    h('td', { class: 'num' }, t.priority),
    h('td', { class: 'num' }, `${t.attempts}/${t.maxAttempts}`),
    h('td', {}, wall(t.enqueuedWall)),
    h('td', { class: 'mono clip' }, t.payload.preview.slice(0, 80)),
    h(
      'td',
      {},
      // A dead task already copied to a dead-letter queue is redriven from there.
      dl && !t.deadLetterId
        ? h(
            'button',
            {
              'data-redrive': t.id,
              onclick: () => act(`Redrive task ${t.id}?`, { type: 'redrive', queue: t.queue, ids: [t.id] }),
            },
            'Redrive',
          )
        : null,
    ),
  );
}

async function openTask(id) {
  view.taskId = id;
  await loadTask();
  $('task-detail').scrollIntoView({ block: 'nearest' });
}

async function loadTask() {
  const id = view.taskId;
  if (id === null) return;
  const box = $('task-detail');
  box.hidden = false;
  let r;
  try {
    r = await api(`/console/api/task?id=${encodeURIComponent(id)}`);
  } catch (e) {
    box.replaceChildren(h('p', { class: 'error' }, String(e.message)));
    return;
  }
  if (view.taskId !== id) return;
  if (!r.answer.ok) {
    box.replaceChildren(h('h3', {}, `Task ${id}`), h('p', { class: 'error' }, r.answer.error.message));
    return;
  }
  box.replaceChildren(...taskDetail(r.answer.value, r));
}

function taskDetail(t, r) {
  const facts = h(
    'dl',
    { class: 'facts' },
    ...[
      ['queue', t.queue],
      ['state', h('span', { id: 'task-state' }, t.state)],
      ['priority', t.priority],
      ['attempts (failures)', `${t.attempts} of ${t.maxAttempts}`],
      ['deliveries (lease expiries)', `${t.deliveries} of ${t.maxDeliveries}`],
      ['leases granted', t.leases],
      ['enqueued', wall(t.enqueuedWall)],
      t.group ? ['group', t.group] : null,
      t.idempotencyKey ? ['idempotency key', t.idempotencyKey] : null,
      t.lease
        ? ['lease', `token ${t.lease.token}, worker ${t.lease.workerId}${t.lease.expired ? ' (expired)' : ''}`]
        : null,
      t.reason ? ['ended because', t.reason] : null,
      t.lastError ? ['last error', t.lastError] : null,
      t.progress !== undefined ? ['progress', t.progress] : null,
      t.deadLetterId ? ['dead letter', t.deadLetterId] : null,
      t.redrivenFrom ? ['redriven from', t.redrivenFrom] : null,
      Object.keys(t.headers).length ? ['headers', JSON.stringify(t.headers)] : null,
    ]
      .filter(Boolean)
      .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
  );
  const out = [
    h('h3', {}, `Task ${t.id}`, r.stale ? h('span', { class: 'pill warn' }, ` stale, index ${r.asOf.index}`) : null),
    facts,
    h('h4', {}, `Payload (${t.payload.bytes} bytes${t.payload.truncated ? ', preview truncated' : ''})`),
    h('pre', { class: 'payload', id: 'task-payload' }, t.payload.kind === 'none' ? '(empty)' : t.payload.preview),
  ];
  if (t.result) out.push(h('h4', {}, 'Result'), h('pre', { class: 'payload' }, t.result.preview));
  if (t.checkpoint) out.push(h('h4', {}, 'Checkpoint'), h('pre', { class: 'payload' }, t.checkpoint.preview));
  out.push(h('h4', {}, 'Story (log entries)'), storyList(t, r.asOf));
  out.push(h('h4', {}, 'Attempts'), historyTable(t.history, t.enqueuedWall, 'task-history'));
  if (t.deadLetterOf) {
    const d = t.deadLetterOf;
    out.push(h('h4', {}, `Dead letter of task ${d.id} in ${d.queue} (${d.reason})`), historyTable(d.history, null, ''));
  }
  return out;
}

// ------------------------------------------------------------------ actions

function confirmDialog(text) {
  const d = $('confirm');
  $('confirm-text').textContent = text;
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.returnValue = '';
    d.showModal();
  });
}

async function act(question, cmd) {
  if (!(await confirmDialog(question))) return;
  let body;
  try {
    const res = await fetch('/console/api/action', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ cmd }),
    });
    body = await res.json();
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  } catch (e) {
    return toast(`failed: ${e.message}`, true);
  }
  const a = body.answer;
  if (a.ok) {
    const items = a.value && Array.isArray(a.value.items) ? a.value.items : null;
    const moved = items ? `: ${items.length} redriven${items.map((x) => ` ${x.from} → ${x.id}`).join(',')}` : '';
    toast(`${cmd.type} done at index ${body.index}${moved}`);
  } else if (a.error.code === 'NOT_LEADER') {
    const where = body.leader
      ? `the leader is ${body.leader}${body.leaderAddress ? ` (${body.leaderAddress})` : ''}`
      : '';
    toast(`this node is not the leader; open the leader's console${where ? `: ${where}` : ''}`, true);
  } else {
    toast(`${a.error.code}: ${a.error.message}`, true);
  }
  refreshOpen(true);
}

let toastTimer = null;
function toast(text, bad = false) {
  const t = $('toast');
  t.textContent = text;
  t.className = bad ? 'bad' : 'good';
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 6000);
}

// ------------------------------------------------------------------ live updates

/** Re-reads the open list and task when the node applied something new (at most once a second). */
function refreshOpen(force = false) {
  const now = Date.now();
  if (!force && now - view.lastRefresh < 1000) return;
  view.lastRefresh = now;
  if (view.list) void loadList();
  if (view.taskId !== null) void loadTask();
  refreshKeys();
}

function connect() {
  const es = new EventSource('/console/api/events');
  es.addEventListener('open', () => setConn('live', 'ok'));
  es.addEventListener('error', () => setConn('disconnected, retrying', 'bad'));
  es.addEventListener('state', (ev) => {
    const msg = JSON.parse(ev.data);
    const applied = msg.cluster.appliedIndex;
    const changed = view.last === null || view.last.cluster.appliedIndex !== applied;
    view.last = msg;
    setConn('live', 'ok');
    renderCluster(msg.cluster);
    renderQueues(msg.queues, msg.at);
    if (changed) refreshOpen();
  });
}

function setConn(text, cls) {
  const c = $('conn');
  c.textContent = text;
  c.className = `pill ${cls}`;
}

$('lookup').addEventListener('submit', (e) => {
  e.preventDefault();
  const id = $('task-id').value.trim();
  if (id) void openTask(id);
});
$('list-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if ($('list-queue').value) openList($('list-queue').value, $('list-state').value);
});
$('page-next').addEventListener('click', () => {
  const l = view.list;
  if (!l || l.next === null) return;
  l.cursors[l.page + 1] = l.next;
  l.page++;
  void loadList();
});
$('page-prev').addEventListener('click', () => {
  const l = view.list;
  if (!l || l.page === 0) return;
  l.page--;
  void loadList();
});
$('redrive-all').addEventListener('click', () => {
  const l = view.list;
  if (l) void act(`Redrive every dead letter of ${l.queue}?`, { type: 'redrive', queue: l.queue });
});

connect();
