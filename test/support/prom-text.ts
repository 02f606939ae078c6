// A small, strict parser of the Prometheus text exposition format (version 0.0.4), for tests. Written
// here rather than taken from npm: the maintained parsers are either part of a larger client
// (prom-client only writes the format) or unmaintained, and the format is small. Strict: any line
// that is not a comment, a HELP / TYPE line or a well-formed sample throws, as does a sample whose
// family has no TYPE, a repeated TYPE, a family split by another, or a repeated series.

export type PromType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: PromType;
  help: string;
  samples: PromSample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<PromType, string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/** A float as Prometheus reads it (Go's ParseFloat: NaN and Inf in any case, e.g. prom-client's "Nan"). */
function parseValue(s: string, line: number): number {
  const l = s.toLowerCase();
  if (l === '+inf' || l === 'inf') return Infinity;
  if (l === '-inf') return -Infinity;
  if (l === 'nan') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`line ${line}: bad value "${s}"`);
  return Number(s);
}

/** Parses `{a="x",b="y"}` (the braces included) and returns the labels and the rest of the line. */
function parseLabels(s: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  const fail = (why: string): never => {
    throw new Error(`line ${line}: ${why}`);
  };
  while (s[i] !== '}') {
    const m = new RegExp(`^(${LABEL})="`).exec(s.slice(i));
    if (!m?.[1]) return fail('bad label name');
    const key = m[1];
    i += m[0].length;
    let v = '';
    for (;;) {
      const c = s[i++];
      if (c === undefined) return fail('unterminated label value');
      if (c === '"') break;
      if (c === '\\') {
        const e = s[i++];
        if (e === 'n') v += '\n';
        else if (e === '\\' || e === '"') v += e;
        else return fail(`bad escape \\${e ?? ''}`);
      } else v += c;
    }
    if (key in labels) fail(`label ${key} repeated`);
    labels[key] = v;
    if (s[i] === ',') i++;
    else if (s[i] !== '}') fail('expected , or }');
  }
  return { labels, rest: s.slice(i + 1) };
}

function familyOf(families: Map<string, PromFamily>, sample: string): PromFamily | undefined {
  for (const [name, f] of families) {
    for (const sfx of SUFFIXES[f.type]) if (sample === name + sfx) return f;
  }
  return undefined;
}

export function parsePromText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const series = new Set<string>();
  let current: PromFamily | null = null;
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') throw new Error('the exposition does not end with a newline');
  lines.pop();
  lines.forEach((raw, n) => {
    const line = n + 1;
    if (raw === '') return;
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(raw);
    if (meta) {
      const [, kind, name = '', rest = ''] = meta;
      let f = families.get(name);
      if (f && f !== current) throw new Error(`line ${line}: family ${name} is split`);
      if (!f) families.set(name, (f = { name, type: 'untyped', help: '', samples: [] }));
      current = f;
      if (kind === 'HELP') f.help = rest;
      else {
        if (!TYPES.has(rest)) throw new Error(`line ${line}: bad type ${rest}`);
        if (f.samples.length > 0) throw new Error(`line ${line}: TYPE after samples of ${name}`);
        f.type = rest as PromType;
      }
      return;
    }
    if (raw.startsWith('#')) return;
    const m = new RegExp(`^(${NAME})(.*)$`).exec(raw);
    if (!m?.[1]) throw new Error(`line ${line}: not a sample: ${raw}`);
    const name = m[1];
    let rest = m[2] ?? '';
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line));
    const parts = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
    if (!parts?.[1]) throw new Error(`line ${line}: bad sample tail "${rest}"`);
    const f = familyOf(families, name);
    if (!f) throw new Error(`line ${line}: sample ${name} has no TYPE`);
    if (f !== current) throw new Error(`line ${line}: sample ${name} outside its family's block`);
    const key = name + JSON.stringify(Object.entries(labels).sort());
    if (series.has(key)) throw new Error(`line ${line}: series repeated: ${key}`);
    series.add(key);
    f.samples.push({ name, labels, value: parseValue(parts[1], line) });
  });
  return families;
}

/** The value of one sample (labels must all match; others may be present), or undefined. */
export function sampleValue(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}

/** The metric names documented in docs/metrics.md: the backticked first cell of each table row. */
export function documentedMetrics(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \|/gm)) if (m[1]) out.add(m[1]);
  return out;
}
