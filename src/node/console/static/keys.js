// Per-key usage on the console page: a queue's limit keys (tasks leased and cost units in use,
// waiting, weight, concurrency, rate tokens, rate-limit holds), from the `keys` read.
/* global fetch, URLSearchParams */
import { $, h, ms, val } from './dom.js';

const KEYS_SHOWN = 200;
const panel = { queue: null };

/** Shows the limit keys of `queue` (re-read whenever the node's applied index moves). */
export function openKeys(queue) {
  panel.queue = queue;
  $('keys').hidden = false;
  void loadKeys();
}

export function refreshKeys() {
  if (panel.queue !== null) void loadKeys();
}

async function loadKeys() {
  const queue = panel.queue;
  const res = await fetch(`/console/api/keys?${new URLSearchParams({ queue, limit: String(KEYS_SHOWN) })}`);
  const r = await res.json();
  if (queue !== panel.queue) return;
  $('keys-title').textContent = `Limit keys of ${queue}${r.stale ? ` · stale (index ${r.asOf.index})` : ''}`;
  const body = $('key-table').tBodies[0];
  if (!r.answer.ok) {
    body.replaceChildren(h('tr', {}, h('td', { colspan: 8 }, `${r.answer.error.code}: ${r.answer.error.message}`)));
    return;
  }
  const { items, nextCursor } = r.answer.value;
  $('keys-more').hidden = nextCursor === null;
  if (items.length === 0) {
    body.replaceChildren(h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No limit keys in this queue.')));
    return;
  }
  body.replaceChildren(...items.map((k) => keyRow(k, r.asOf)));
}

function keyRow(k, asOf) {
  const held = k.heldUntilMono === null ? '—' : `for ${ms(Math.max(0, k.heldUntilMono - asOf.mono))}`;
  return h(
    'tr',
    { 'data-key': k.key },
    h('td', {}, k.key === '' ? h('span', { class: 'muted' }, '(no key)') : k.key),
    h('td', { class: 'num', 'data-usage': 'leased' }, k.leased),
    h('td', { class: 'num' }, k.inUse),
    h('td', { class: 'num', 'data-usage': 'waiting' }, k.waiting),
    h('td', { class: 'num' }, k.weight),
    h('td', { class: 'num' }, k.concurrency === null ? '—' : k.concurrency),
    h('td', { class: 'num' }, k.tokens === null ? '—' : val(k.tokens)),
    h('td', {}, held),
  );
}
