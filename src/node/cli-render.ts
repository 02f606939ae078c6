// How the read commands show a task. Any payload renders: JSON when it decodes, otherwise
// `<N bytes, codec X>` (or base64 with --raw); one odd task never breaks a listing. Times are
// ISO-8601 for people and epoch ms under --json; mono stamps are placed on the calendar through
// the read's asOf (the leader's wall and mono clocks at the read), so they are close, not exact.
import type { AsOf, AttemptRecord, TaskView } from '../protocol/commands.js';
import { CODEC_HEADER, COMPRESSION_HEADER, decodePayload, msgpackCodec, userHeaders } from '../client/codec.js';
import { taskViewFromWire } from '../client/wire.js';
import { jsonBytes, table } from './cli-common.js';
import { storyJson, storyTable } from './cli-story.js';

export interface RenderOptions {
  /** Add the stored payload bytes as base64. */
  raw?: boolean;
}

/** A task as the CLI prints it under --json (times in epoch ms). */
export interface RenderedTask {
  [k: string]: unknown;
  id: string;
  queue: string;
  state: string;
  payload: unknown;
  payloadText: string;
}

function codecOf(headers: Record<string, string>): string {
  const codec = headers[CODEC_HEADER] ?? 'msgpack';
  const compression = headers[COMPRESSION_HEADER];
  return compression === undefined ? codec : `${codec}+${compression}`;
}

/** JSON text of a value, or null when it has none (undefined, a function, a cycle). */
function jsonText(value: unknown): string | null {
  try {
    return JSON.stringify(value, jsonBytes) ?? null;
  } catch {
    return null;
  }
}

/** The payload as a JSON value (and its text), or a `<N bytes, codec X>` description. */
export function renderPayload(
  bytes: Uint8Array,
  headers: Record<string, string>,
): { value: unknown; text: string; error?: string } {
  const describe = `<${bytes.byteLength} bytes, codec ${codecOf(headers)}>`;
  let decoded: unknown;
  try {
    decoded = decodePayload(bytes, headers, msgpackCodec);
  } catch (e) {
    return { value: null, text: describe, error: e instanceof Error ? e.message : String(e) };
  }
  if (decoded instanceof Uint8Array) {
    // Raw bytes (another language's producer, or --raw): JSON text shows as JSON.
    const s = Buffer.from(decoded).toString('utf8');
    try {
      const value = JSON.parse(s) as unknown;
      return { value, text: JSON.stringify(value) };
    } catch {
      const codec = headers[CODEC_HEADER] === undefined ? describe.replace('codec msgpack', 'codec none') : describe;
      return { value: null, text: codec };
    }
  }
  const text = jsonText(decoded);
  return text === null ? { value: null, text: describe } : { value: JSON.parse(text) as unknown, text };
}

function renderResult(bytes: Uint8Array | undefined): unknown {
  if (bytes === undefined) return undefined;
  try {
    const text = jsonText(msgpackCodec.decode(bytes));
    if (text !== null) return JSON.parse(text) as unknown;
  } catch {
    // fall through to the description
  }
  return `<${bytes.byteLength} bytes>`;
}

/** Epoch ms of a mono stamp, through the read's asOf. */
function monoToWall(mono: number, asOf: AsOf | null): number | null {
  return asOf === null ? null : asOf.wall - (asOf.mono - mono);
}

function attempt(a: AttemptRecord, asOf: AsOf | null): Record<string, unknown> {
  return {
    token: a.token,
    workerId: a.workerId,
    leasedAt: a.leasedWall,
    end: a.end,
    endedAt: a.endedMono === null ? null : monoToWall(a.endedMono, asOf),
    error: a.error,
    // The story (issue 15): the log entries of the grant (its index is the token) and of the end.
    leasedIndex: Number(a.token),
    leasedTerm: a.leasedTerm ?? null,
    endedIndex: a.endedIndex ?? null,
    endedTerm: a.endedTerm ?? null,
  };
}

/** `#index term T` of a log entry ('-' unknown). */
function entry(index: unknown, term: unknown): string {
  if (typeof index !== 'number') return '-';
  return typeof term === 'number' ? `#${index} term ${term}` : `#${index}`;
}

function optional(t: TaskView, asOf: AsOf | null): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (t.group !== undefined) o['group'] = t.group;
  if (t.idempotencyKey !== undefined) o['idempotencyKey'] = t.idempotencyKey;
  if (t.runAt !== undefined) o['runAt'] = t.runAt.clock === 'wall' ? t.runAt.at : monoToWall(t.runAt.at, asOf);
  if (t.lease !== undefined) {
    const { deadlineMono, ...rest } = t.lease;
    o['lease'] = { ...rest, deadline: monoToWall(deadlineMono, asOf) };
  }
  if (t.progress !== undefined) o['progress'] = t.progress;
  if (t.result !== undefined) o['result'] = renderResult(t.result);
  if (t.lastError !== undefined) o['lastError'] = t.lastError;
  if (t.reason !== undefined) o['reason'] = t.reason;
  if (t.endedMono !== undefined) o['endedAt'] = monoToWall(t.endedMono, asOf);
  if (t.deadLetterOf !== undefined) {
    const d = t.deadLetterOf;
    o['deadLetterOf'] = { ...d, history: d.history.map((a) => attempt(a, asOf)) };
  }
  if (t.deadLetterId !== undefined) o['deadLetterId'] = t.deadLetterId;
  if (t.redrivenFrom !== undefined) o['redrivenFrom'] = t.redrivenFrom;
  for (const k of ['enqueuedIndex', 'enqueuedTerm', 'endedIndex', 'endedTerm'] as const)
    if (t[k] !== undefined) o[k] = t[k];
  return o;
}

/** One task off the wire, rendered; never throws on a payload or result it cannot decode. */
export function renderTask(wire: unknown, asOf: AsOf | null, opts: RenderOptions = {}): RenderedTask {
  const t = taskViewFromWire(wire);
  const p = renderPayload(t.payload, t.headers);
  const out: RenderedTask = {
    id: t.id,
    queue: t.queue,
    state: t.state,
    priority: t.priority,
    attempts: t.attempts,
    deliveries: t.deliveries,
    leases: t.leases,
    maxAttempts: t.maxAttempts,
    maxDeliveries: t.maxDeliveries,
    headers: userHeaders(t.headers),
    payload: p.value,
    payloadText: p.text,
    payloadCodec: codecOf(t.headers),
    payloadBytes: t.payload.byteLength,
    enqueuedAt: t.enqueuedWall,
    ...optional(t, asOf),
    history: t.history.map((a) => attempt(a, asOf)),
  };
  const story = storyJson(t.story, asOf);
  if (story !== undefined) out['story'] = story;
  if (p.error !== undefined) out['payloadError'] = p.error;
  if (opts.raw === true) out['payloadBase64'] = Buffer.from(t.payload).toString('base64');
  return out;
}

export function iso(ms: unknown): string {
  return typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : '-';
}

function payloadCell(t: RenderedTask, raw: boolean | undefined): string {
  if (raw === true) return String(t['payloadBase64']);
  return t.payloadText.length > 60 ? `${t.payloadText.slice(0, 59)}…` : t.payloadText;
}

export const TASK_HEADERS = ['ID', 'QUEUE', 'STATE', 'PRIORITY', 'ATTEMPTS', 'ENQUEUED', 'LAST ERROR', 'PAYLOAD'];

export function taskRow(t: RenderedTask, opts: RenderOptions = {}): Array<string | number | undefined> {
  return [
    t.id,
    t.queue,
    t.state,
    t['priority'] as number,
    t['attempts'] as number,
    iso(t['enqueuedAt']),
    t['lastError'] as string | undefined,
    payloadCell(t, opts.raw),
  ];
}

function historyTable(history: unknown): string {
  const rows = (history as Array<Record<string, unknown>>).map((a) => [
    String(a['token']),
    String(a['workerId']),
    iso(a['leasedAt']),
    entry(a['leasedIndex'], a['leasedTerm']),
    a['end'] === null ? 'running' : String(a['end']),
    a['endedAt'] === null ? '-' : iso(a['endedAt']),
    entry(a['endedIndex'], a['endedTerm']),
    a['error'] === null ? '-' : String(a['error']),
  ]);
  return table(['TOKEN', 'WORKER', 'LEASED', 'LEASE ENTRY', 'END', 'ENDED', 'END ENTRY', 'ERROR'], rows);
}

/** A time and, when recorded, the log entry it happened at. */
function at(ms: unknown, index: unknown, term: unknown): string {
  return typeof index === 'number' ? `${iso(ms)} (log entry ${entry(index, term)})` : iso(ms);
}

/** `tasks get` for people: one field a line, then the attempt history. */
export function taskDetail(t: RenderedTask, opts: RenderOptions = {}): string {
  const lines: Array<[string, unknown]> = [
    ['id', t.id],
    ['queue', t.queue],
    ['state', t['reason'] === undefined ? t.state : `${t.state} (${String(t['reason'])})`],
    ['priority', t['priority']],
    ['attempts', `${String(t['attempts'])} of ${String(t['maxAttempts'])}`],
    ['deliveries', `${String(t['deliveries'])} of ${String(t['maxDeliveries'])}`],
    ['enqueued', at(t['enqueuedAt'], t['enqueuedIndex'], t['enqueuedTerm'])],
    ['run at', t['runAt'] === undefined ? undefined : iso(t['runAt'])],
    ['ended', t['endedAt'] === undefined ? undefined : at(t['endedAt'], t['endedIndex'], t['endedTerm'])],
    ['group', t['group']],
    ['idempotency key', t['idempotencyKey']],
    ['headers', Object.keys(t['headers'] as object).length > 0 ? JSON.stringify(t['headers']) : undefined],
    ['payload', opts.raw === true ? `base64:${String(t['payloadBase64'])}` : t.payloadText],
    ['payload error', t['payloadError']],
    ['result', t['result'] === undefined ? undefined : JSON.stringify(t['result'])],
    ['last error', t['lastError']],
    ['dead letter of', (t['deadLetterOf'] as { id?: string } | undefined)?.id],
    ['dead letter', t['deadLetterId']],
    ['redriven from', t['redrivenFrom']],
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  const body = lines
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${String(v)}\n`)
    .join('');
  const history = t['history'] as unknown[];
  const story = t['story'] as Record<string, unknown>[] | undefined;
  const withHistory = history.length === 0 ? body : `${body}history:\n${historyTable(history)}`;
  return story === undefined ? withHistory : `${withHistory}story:\n${storyTable(story)}`;
}
