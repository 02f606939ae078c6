// A self-contained HTML page with two SVG panels, the picture Jepsen draws: throughput of ok
// enqueues and acks over time, and per-call latency (log scale, coloured by outcome), with the
// fault windows shaded. No dependencies, no scripts.

import { pairCalls } from './analysis.js';
import type { Call } from './analysis.js';
import { isRecord } from './history.js';
import type { History, MonoMs } from './history.js';

export interface FaultWindow {
  kind: string;
  start: MonoMs;
  /** Absent: still active at the end of the history. */
  end?: MonoMs;
}

const width = 1000;
const panelHeight = 220;
const margin = { left: 70, right: 20, top: 30, bottom: 30 };
const plotWidth = width - margin.left - margin.right;
const plotHeight = panelHeight - margin.top - margin.bottom;
const bucketsMax = 120;
const pointsMax = 4000;
const faultColours = ['#f4a261', '#e76f51', '#2a9d8f', '#8ab17d', '#e9c46a', '#9d4edd', '#6c757d'];
const outcomeColours = { ok: '#2b8a3e', fail: '#c92a2a', info: '#e8a100' } as const;

/** Fault windows from the history's nemesis events: a start opens one per (kind, target), a stop closes it. */
export function faultWindows(history: History): FaultWindow[] {
  const open = new Map<string, FaultWindow>();
  const out: FaultWindow[] = [];
  for (const op of history) {
    const v: unknown = op.value;
    if (op.f !== 'fault' || !isRecord(v) || typeof v['kind'] !== 'string') continue;
    const key = `${v['kind']}\u0000${typeof v['target'] === 'string' ? v['target'] : ''}`;
    if (v['action'] === 'start' && !open.has(key)) {
      const w: FaultWindow = { kind: v['kind'], start: op.time };
      open.set(key, w);
      out.push(w);
    } else if (v['action'] === 'stop') {
      const w = open.get(key);
      if (w !== undefined) w.end = op.time;
      open.delete(key);
    }
  }
  return out;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function fmt(n: number): string {
  return Number.isFinite(n) ? n.toFixed(1) : '0';
}

interface Frame {
  t0: number;
  t1: number;
  x: (t: number) => number;
}

export function timelineSvg(history: History, faults: readonly FaultWindow[] = faultWindows(history)): string {
  const finiteTimes = history.map((o) => o.time).filter(Number.isFinite);
  const t0 = finiteTimes.length === 0 ? 0 : finiteTimes.reduce(minR, Infinity);
  const t1 = Math.max(t0 + 1, finiteTimes.reduce(maxR, t0));
  const frame: Frame = { t0, t1, x: (t) => margin.left + ((t - t0) / (t1 - t0)) * plotWidth };
  const { calls } = pairCalls(history);
  const kinds = [...new Set(faults.map((f) => f.kind))];
  const body = [
    panel('Throughput (ok operations per second)', throughputPlot(calls, frame), faults, kinds, frame),
    panel('Latency (ms, log scale)', latencyPlot(calls, frame), faults, kinds, frame),
    legend(kinds),
  ].join('\n');
  return [
    '<!doctype html>',
    '<html><head><meta charset="utf-8"><title>raftq run timeline</title>',
    '<style>body{font-family:sans-serif;margin:16px}svg{display:block;margin-bottom:12px}</style>',
    '</head><body>',
    `<h2>raftq run timeline</h2><p>${history.length} ops over ${fmt((t1 - t0) / 1000)} s</p>`,
    body,
    '</body></html>',
    '',
  ].join('\n');
}

function minR(a: number, b: number): number {
  return b < a ? b : a;
}

function maxR(a: number, b: number): number {
  return b > a ? b : a;
}

function panel(title: string, plot: string, faults: readonly FaultWindow[], kinds: string[], frame: Frame): string {
  const shades = faults.map((f) => {
    const x0 = frame.x(f.start);
    const x1 = frame.x(f.end ?? frame.t1);
    const colour = faultColours[kinds.indexOf(f.kind) % faultColours.length] ?? '#999';
    return `<rect x="${fmt(x0)}" y="${margin.top}" width="${fmt(Math.max(1, x1 - x0))}" height="${plotHeight}" fill="${colour}" fill-opacity="0.25"><title>${escapeXml(f.kind)}</title></rect>`;
  });
  const axisY = margin.top + plotHeight;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((q) => {
    const t = frame.t0 + q * (frame.t1 - frame.t0);
    const x = frame.x(t);
    return `<text x="${fmt(x)}" y="${axisY + 18}" font-size="11" text-anchor="middle">${fmt((t - frame.t0) / 1000)} s</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${panelHeight}" viewBox="0 0 ${width} ${panelHeight}">`,
    `<text x="${margin.left}" y="18" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
    ...shades,
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333"/>`,
    plot,
    ...ticks,
    '</svg>',
  ].join('\n');
}

function throughputPlot(calls: readonly Call[], frame: Frame): string {
  const bucketMs = (frame.t1 - frame.t0) / bucketsMax;
  const series = (['enqueue', 'ack'] as const).map((f) => {
    const counts = new Array<number>(bucketsMax).fill(0);
    for (const c of calls) {
      if (c.f !== f || c.outcome !== 'ok') continue;
      const b = Math.min(bucketsMax - 1, Math.floor((c.completeTime - frame.t0) / bucketMs));
      if (b >= 0) counts[b] = (counts[b] ?? 0) + 1;
    }
    return { f, rates: counts.map((n) => n / (bucketMs / 1000)) };
  });
  const top = Math.max(1, ...series.flatMap((s) => s.rates));
  const y = (r: number): number => margin.top + plotHeight - (r / top) * plotHeight;
  const colours = { enqueue: '#1c7ed6', ack: '#2b8a3e' } as const;
  const lines = series.map((s) => {
    const pts = s.rates.map((r, i) => `${fmt(frame.x(frame.t0 + (i + 0.5) * bucketMs))},${fmt(y(r))}`).join(' ');
    return `<polyline points="${pts}" fill="none" stroke="${colours[s.f]}" stroke-width="1.5"><title>${s.f} ok/s</title></polyline>`;
  });
  return [
    ...lines,
    `<text x="${margin.left - 6}" y="${margin.top + 10}" font-size="11" text-anchor="end">${fmt(top)}</text>`,
    `<text x="${margin.left - 6}" y="${margin.top + plotHeight}" font-size="11" text-anchor="end">0</text>`,
    `<text x="${width - margin.right}" y="18" font-size="11" text-anchor="end" fill="${colours.enqueue}">enqueue</text>`,
    `<text x="${width - margin.right - 60}" y="18" font-size="11" text-anchor="end" fill="${colours.ack}">ack</text>`,
  ].join('\n');
}

function latencyPlot(calls: readonly Call[], frame: Frame): string {
  const timed = calls.filter((c) => c.f !== 'read' && Number.isFinite(c.completeTime));
  const stride = Math.max(1, Math.ceil(timed.length / pointsMax));
  const latencies = timed.map((c) => Math.max(0.1, c.completeTime - c.invokeTime));
  const top = Math.log10(Math.max(10, latencies.reduce(maxR, 0)));
  const bottom = -1;
  const y = (ms: number): number => margin.top + plotHeight - ((Math.log10(ms) - bottom) / (top - bottom)) * plotHeight;
  const dots: string[] = [];
  for (let i = 0; i < timed.length; i += stride) {
    const c = timed[i]!;
    const ms = latencies[i]!;
    dots.push(
      `<circle cx="${fmt(frame.x(c.completeTime))}" cy="${fmt(y(ms))}" r="1.6" fill="${outcomeColours[c.outcome]}"><title>${escapeXml(c.f)} ${c.outcome} ${fmt(ms)} ms</title></circle>`,
    );
  }
  const labels = [0.1, 1, 10, 100, 1000, 10000]
    .filter((ms) => Math.log10(ms) <= top)
    .map((ms) => `<text x="${margin.left - 6}" y="${fmt(y(ms) + 4)}" font-size="11" text-anchor="end">${ms}</text>`);
  return [...dots, ...labels].join('\n');
}

function legend(kinds: string[]): string {
  const outcomes = Object.entries(outcomeColours).map(([k, c]) => `<span style="color:${c}">&#9679; ${k}</span>`);
  const faults = kinds.map(
    (k, i) =>
      `<span style="background:${faultColours[i % faultColours.length] ?? '#999'};opacity:0.6;padding:0 6px">${escapeXml(k)}</span>`,
  );
  return `<p>Outcomes: ${outcomes.join(' ')}</p><p>Faults: ${faults.length === 0 ? 'none' : faults.join(' ')}</p>`;
}
