// The web console on the admin port (issue #15): the page and its static files, a small JSON API and
// a server-sent-event stream of cluster and queue state. The admin server hands every request to
// `handle` first; anything not under /console (and not `/`) is left to it.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConsoleData, type ConsoleSource, type TaskFilter } from './console-data.js';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** The page's own files (copied next to the compiled module by the build) and the bundled uPlot. */
const STATIC: Record<string, { file: () => string; type: string }> = {
  '/console/': { file: () => join(here, 'static', 'index.html'), type: 'text/html; charset=utf-8' },
  '/console/app.js': { file: () => join(here, 'static', 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/console/dom.js': { file: () => join(here, 'static', 'dom.js'), type: 'text/javascript; charset=utf-8' },
  '/console/story.js': { file: () => join(here, 'static', 'story.js'), type: 'text/javascript; charset=utf-8' },
  '/console/keys.js': { file: () => join(here, 'static', 'keys.js'), type: 'text/javascript; charset=utf-8' },
  '/console/console.css': { file: () => join(here, 'static', 'console.css'), type: 'text/css; charset=utf-8' },
  '/console/vendor/uplot.js': {
    file: () => require.resolve('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/console/vendor/uplot.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css' },
};

const BODY_MAX = 64 * 1024;
const PAGE_MAX = 200;
const KEYS_PAGE_MAX = 1000;
/** SSE: a state push at least this often, and at most this often when task events arrive. */
const TICK_MS = 1_000;
const EVENT_PUSH_MS = 250;
const SSE_CLIENTS_MAX = 32;
const STREAM_BUFFER_MAX = 1 << 20;

export class ConsoleHttp {
  readonly data: ConsoleData;
  private readonly files = new Map<string, Buffer>();
  private readonly streams = new Set<ServerResponse>();
  private ticker: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;

  private readonly unfollow: () => void;

  constructor(private readonly src: ConsoleSource) {
    this.data = new ConsoleData(src);
    this.unfollow = this.data.follow();
  }

  /** Serves the request if it is the console's; false leaves it to the admin server. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin');
    } catch {
      return false;
    }
    const path = url.pathname;
    if (path === '/' || path === '/console') {
      if (req.method !== 'GET') return false;
      res.writeHead(302, { location: '/console/' });
      res.end();
      return true;
    }
    if (!path.startsWith('/console/')) return false;
    if (req.method === 'POST' && path === '/console/api/action') {
      await this.action(req, res);
      return true;
    }
    if (req.method !== 'GET') {
      send(res, 405, { error: 'method not allowed' });
      return true;
    }
    await this.get(path, url.searchParams, res);
    return true;
  }

  private async get(path: string, q: URLSearchParams, res: ServerResponse): Promise<void> {
    const file = STATIC[path];
    if (file) return this.serveFile(path, file, res);
    switch (path) {
      case '/console/api/cluster':
        return send(res, 200, this.data.cluster());
      case '/console/api/queues':
        return send(res, 200, await this.data.queues());
      case '/console/api/task': {
        const id = q.get('id') ?? '';
        if (!/^\d{1,16}$/.test(id)) return send(res, 400, { error: 'id: a decimal task id', field: 'id' });
        return send(res, 200, await this.data.task(id));
      }
      case '/console/api/tasks': {
        const limit = Math.min(PAGE_MAX, Math.max(1, Number(q.get('limit') ?? 25) || 25));
        const cursor = q.get('cursor') ?? undefined;
        const filter = filterOf(q);
        if (filter === null) return send(res, 400, { error: 'header: name=value', field: 'header' });
        return send(res, 200, await this.data.list(q.get('queue') ?? '', q.get('state') ?? '', cursor, limit, filter));
      }
      case '/console/api/keys': {
        const limit = Math.min(KEYS_PAGE_MAX, Math.max(1, Number(q.get('limit') ?? 100) || 100));
        return send(res, 200, await this.data.keys(q.get('queue') ?? '', q.get('cursor') ?? undefined, limit));
      }
      case '/console/api/events':
        return this.openStream(res);
      default:
        return send(res, 404, { error: 'not found' });
    }
  }

  private async serveFile(path: string, f: { file: () => string; type: string }, res: ServerResponse): Promise<void> {
    let body = this.files.get(path);
    if (body === undefined) {
      body = await readFile(f.file());
      this.files.set(path, body);
    }
    res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-cache' });
    res.end(body);
  }

  /**
   * POST {"cmd": {...}}: pauseQueue / resumeQueue / purgeQueue / redrive. JSON only and same-origin
   * only, so a page on another site cannot submit it from a visitor's browser.
   */
  private async action(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const origin = req.headers.origin;
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      return send(res, 415, { error: 'content-type must be application/json' });
    }
    if (origin !== undefined && originHost(origin) !== req.headers.host) {
      return send(res, 403, { error: 'cross-origin request refused' });
    }
    let body = '';
    for await (const chunk of req) {
      body += String(chunk);
      if (body.length > BODY_MAX) return send(res, 413, { error: 'body too large' });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return send(res, 400, { error: 'malformed JSON', field: 'body' });
    }
    const cmd = typeof parsed === 'object' && parsed !== null ? (parsed as { cmd?: unknown }).cmd : undefined;
    const out = await this.data.action(cmd);
    const status = this.src.executor.status();
    send(res, 200, { ...out, leader: status.leader, leaderAddress: status.leaderAddress });
  }

  private openStream(res: ServerResponse): void {
    if (this.streams.size >= SSE_CLIENTS_MAX) return send(res, 503, { error: 'too many console streams' });
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.write('retry: 1000\n\n');
    this.streams.add(res);
    res.on('close', () => {
      this.streams.delete(res);
      if (this.streams.size === 0) this.stopTicker();
    });
    this.startTicker();
    void this.push();
  }

  private startTicker(): void {
    if (this.ticker !== null) return;
    this.ticker = setInterval(() => void this.push(), TICK_MS);
    // Applied task events make the next push come sooner (throttled), so counts move live.
    this.unsubscribe = this.src.executor.subscribe({}, () => {
      this.soon ??= setTimeout(() => {
        this.soon = null;
        void this.push();
      }, EVENT_PUSH_MS);
    });
  }

  private stopTicker(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    if (this.soon !== null) clearTimeout(this.soon);
    this.unsubscribe?.();
    this.ticker = this.soon = this.unsubscribe = null;
  }

  private pushing = false;

  /** One state message to every open stream; skipped while the previous one is still being read. */
  private async push(): Promise<void> {
    if (this.pushing || this.streams.size === 0) return;
    this.pushing = true;
    try {
      const queues = await this.data.queues();
      const msg = { at: Date.now(), cluster: this.data.cluster(), queues };
      const frame = `event: state\ndata: ${JSON.stringify(msg)}\n\n`;
      for (const s of this.streams) {
        // A reader that stopped reading is dropped rather than buffered without bound.
        if (s.writableLength > STREAM_BUFFER_MAX) s.destroy();
        else s.write(frame);
      }
    } finally {
      this.pushing = false;
    }
  }

  /** Ends every stream (the admin server is closing). */
  close(): void {
    this.unfollow();
    this.stopTicker();
    this.src.members?.close();
    for (const s of this.streams) s.end();
    this.streams.clear();
  }
}

/** group=, key= and header=name=value query parameters (empty ones ignored); null if malformed. */
function filterOf(q: URLSearchParams): TaskFilter | null {
  const f: TaskFilter = {};
  const group = q.get('group');
  const key = q.get('key');
  const header = q.get('header');
  if (group) f.group = group;
  if (key) f.key = key;
  if (header) {
    const eq = header.indexOf('=');
    if (eq <= 0) return null;
    f.header = { name: header.slice(0, eq), value: header.slice(eq + 1) };
  }
  return f;
}

function originHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body) + '\n');
}
