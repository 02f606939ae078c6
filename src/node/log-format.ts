// A small formatter for the nodes' pino JSON lines, for people watching `raftq dev`:
// `12:00:01.234 INFO  n1 became leader term=2`. Lines that are not pino JSON pass unchanged.
const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'node', 'msg']);

function value(v: unknown): string {
  if (typeof v === 'string') return /\s/.test(v) || v === '' ? JSON.stringify(v) : v;
  return JSON.stringify(v) ?? String(v);
}

export function formatLogLine(line: string, node = ''): string {
  if (!line.startsWith('{')) return node ? `${node} ${line}` : line;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return node ? `${node} ${line}` : line;
  }
  if (typeof o['level'] !== 'number') return node ? `${node} ${line}` : line;
  const t = typeof o['time'] === 'string' ? o['time'] : new Date(Number(o['time'] ?? 0)).toISOString();
  const time = /T(\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(t)?.[1] ?? t;
  const level = (LEVELS[o['level']] ?? String(o['level'])).padEnd(5);
  const who = typeof o['node'] === 'string' ? o['node'] : node;
  const fields = Object.entries(o)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(' ');
  return [time, level, who, String(o['msg'] ?? ''), fields].filter((s) => s !== '').join(' ');
}
