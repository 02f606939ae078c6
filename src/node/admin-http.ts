// HTTP admin port: health, readiness, Prometheus metrics, status JSON and the (index, digest) view
// used to compare replicas at common indexes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Role } from '../rpc/auth.js';
import type { TlsMaterial } from '../rpc/tls.js';
import type { NodeMetrics } from './metrics.js';

export interface AdminSource {
  /** Ready: has a leader and has applied up to its persisted commit index. */
  ready(): boolean;
  status(): unknown;
  digests(): { index: number; digest: string }[];
  /** Refresh gauges that are cheaper to read on scrape than to keep current. */
  refreshMetrics?(): void;
  /** Operator routes by "METHOD /path" (admin-members.ts): a JSON answer with its HTTP status. */
  routes?: Record<string, (body: string) => Promise<{ status: number; body: unknown }>>;
  /** Test-only control routes (POST), present only when a test harness installed them. */
  controls?: Record<string, (body: string) => Promise<unknown>>;
  /**
   * When auth is on: null if the Authorization header holds a token with one of `roles`, else why not.
   * Everything but /healthz and /readyz asks it (reads: admin or reader; POST: admin).
   */
  authorize?(
    authorization: string | undefined,
    roles: readonly Role[],
  ): Promise<{ code: string; message: string } | null>;
  /** The web console (src/node/console): gets each request first; false leaves it to the routes here. */
  console?: { handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>; close(): void };
}

export class AdminHttp {
  private server: Server | null = null;
  private stopReload: (() => void) | null = null;

  constructor(
    private readonly source: AdminSource,
    private readonly metrics: NodeMetrics,
  ) {}

  /** With `tls`, HTTPS: new connections get the certificate of the material's latest reload. */
  async listen(host: string, port: number, tls?: TlsMaterial): Promise<AddressInfo> {
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`internal error: ${err instanceof Error ? err.message : String(err)}\n`);
      });
    };
    let server: Server;
    if (tls === undefined) server = createServer(onRequest);
    else {
      const https = createHttpsServer(tls.secureContextOptions(), onRequest);
      this.stopReload = tls.onChange(() => https.setSecureContext(tls.secureContextOptions()));
      server = https;
    }
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!(await this.authorized(req, res))) return;
    if (this.source.console && (await this.source.console.handle(req, res))) return;
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = this.source.routes?.[`${req.method ?? 'GET'} ${path}`];
    if (route) {
      let body = '';
      if (req.method === 'POST')
        for await (const chunk of req) {
          body += String(chunk);
          if (body.length > 65_536) return send(res, 413, 'text/plain', 'request body over 64 KiB\n');
        }
      const answer = await route(body);
      if (answer.body instanceof Uint8Array) {
        res.writeHead(answer.status, { 'content-type': 'application/octet-stream' });
        res.end(answer.body);
        return;
      }
      return send(res, answer.status, 'application/json', JSON.stringify(answer.body) + '\n');
    }
    const control = this.source.controls?.[path];
    if (req.method === 'POST' && control) {
      let body = '';
      for await (const chunk of req) body += String(chunk);
      return send(res, 200, 'application/json', JSON.stringify((await control(body)) ?? null) + '\n');
    }
    if (req.method !== 'GET') return send(res, 405, 'text/plain', 'method not allowed\n');
    switch (path) {
      case '/healthz':
        return send(res, 200, 'text/plain', 'ok\n');
      case '/readyz':
        return this.source.ready()
          ? send(res, 200, 'text/plain', 'ready\n')
          : send(res, 503, 'text/plain', 'not ready\n');
      case '/metrics':
        this.source.refreshMetrics?.();
        return send(res, 200, this.metrics.registry.contentType, await this.metrics.registry.metrics());
      case '/status':
        return send(res, 200, 'application/json', JSON.stringify(this.source.status()) + '\n');
      case '/debug/digests':
        return send(res, 200, 'application/json', JSON.stringify(this.source.digests()) + '\n');
      default:
        return send(res, 404, 'text/plain', 'not found\n');
    }
  }

  /** Health and readiness stay open (probes carry no token); the rest needs a token when auth is on. */
  private async authorized(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (this.source.authorize === undefined || path === '/healthz' || path === '/readyz') return true;
    const roles: Role[] = req.method === 'GET' || req.method === 'HEAD' ? ['admin', 'reader'] : ['admin'];
    const refusal = await this.source.authorize(req.headers.authorization, roles);
    if (refusal === null) return true;
    const unauthenticated = refusal.code === 'UNAUTHENTICATED';
    res.writeHead(unauthenticated ? 401 : 403, {
      'content-type': 'text/plain',
      ...(unauthenticated ? { 'www-authenticate': 'Basic realm="raftq", charset="UTF-8"' } : {}),
    });
    res.end(`${refusal.code}: ${refusal.message}\n`);
    return false;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.stopReload?.();
    this.source.console?.close();
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type });
  res.end(body);
}
