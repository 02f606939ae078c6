// The console page's DOM helpers: elements built from plain values (set as text, never as HTML),
// and the formatting of times and durations.
/* global document, window */

export const $ = (id) => document.getElementById(id);

/** h('td', {class: 'x'}, 'text', child) → element; strings become text nodes. */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined) continue;
    el.append(kid instanceof window.Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

export const unknown = () => h('span', { class: 'unknown' }, 'unknown');
export const val = (v) => (v === null || v === undefined ? unknown() : String(v));

export function ms(n) {
  if (n === null || n === undefined) return unknown();
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 120_000) return `${(n / 1000).toFixed(1)} s`;
  if (n < 7_200_000) return `${Math.round(n / 60_000)} min`;
  return `${(n / 3_600_000).toFixed(1)} h`;
}
export const wall = (t) => (t ? new Date(t).toISOString().replace('T', ' ').replace('Z', '') : '');
