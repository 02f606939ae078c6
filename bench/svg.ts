// A dependency-free SVG of small multiples: one panel per figure, the swept parameter on the x axis
// (evenly spaced, labelled with its values), the figure on a linear y axis from 0.

export interface Series {
  title: string;
  /** One value per x position; null where it was not measured. */
  values: (number | null)[];
}

const PANEL_W = 300;
const PANEL_H = 180;
const PAD = { left: 56, right: 12, top: 28, bottom: 36 };
const COLS = 3;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function num(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1000) return `${+(v / 1000).toPrecision(3)}k`;
  return String(+v.toPrecision(3));
}

function panel(s: Series, xs: string[], x0: number, y0: number): string {
  const w = PANEL_W - PAD.left - PAD.right;
  const h = PANEL_H - PAD.top - PAD.bottom;
  const max = Math.max(0, ...s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const top = max > 0 ? max * 1.1 : 1;
  const px = (i: number): number => x0 + PAD.left + (xs.length === 1 ? w / 2 : (i / (xs.length - 1)) * w);
  const py = (v: number): number => y0 + PAD.top + h - (v / top) * h;
  const parts = [
    `<text x="${x0 + PAD.left}" y="${y0 + 16}" font-size="12" font-weight="bold">${esc(s.title)}</text>`,
    `<line x1="${x0 + PAD.left}" y1="${y0 + PAD.top + h}" x2="${x0 + PAD.left + w}" y2="${y0 + PAD.top + h}" stroke="#444"/>`,
    `<line x1="${x0 + PAD.left}" y1="${y0 + PAD.top}" x2="${x0 + PAD.left}" y2="${y0 + PAD.top + h}" stroke="#444"/>`,
  ];
  for (const f of [0, 0.5, 1]) {
    const v = (top / 1.1) * f;
    parts.push(
      `<text x="${x0 + PAD.left - 4}" y="${py(v) + 4}" font-size="10" text-anchor="end">${num(v)}</text>`,
      `<line x1="${x0 + PAD.left}" y1="${py(v)}" x2="${x0 + PAD.left + w}" y2="${py(v)}" stroke="#ddd"/>`,
    );
  }
  xs.forEach((label, i) => {
    parts.push(
      `<text x="${px(i)}" y="${y0 + PAD.top + h + 14}" font-size="10" text-anchor="middle">${esc(label)}</text>`,
    );
  });
  const pts = s.values
    .map((v, i) => (v === null || !Number.isFinite(v) ? null : `${px(i).toFixed(1)},${py(v).toFixed(1)}`))
    .filter((p): p is string => p !== null);
  if (pts.length > 1) parts.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${pts.join(' ')}"/>`);
  for (const p of pts) {
    const [cx, cy] = p.split(',');
    parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="#1f77b4"/>`);
  }
  return parts.join('\n');
}

/** The whole figure: a title, the x-axis name, and one panel per series. */
export function smallMultiples(title: string, xName: string, xs: string[], series: Series[]): string {
  const rows = Math.ceil(series.length / COLS);
  const width = PANEL_W * Math.min(COLS, series.length);
  const height = 40 + rows * PANEL_H + 20;
  const body = series.map((s, k) => panel(s, xs, (k % COLS) * PANEL_W, 40 + Math.floor(k / COLS) * PANEL_H));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="8" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="8" y="34" font-size="11">x: ${esc(xName)}</text>`,
    ...body,
    `</svg>`,
    '',
  ].join('\n');
}
