// Replicated client tokens on the admin HTTP port (issue #14, docs/security.md): the routes behind
// `raftq tokens add | revoke | list`. The CLI hashes a new token itself: only the scrypt hash and the
// grants come here and go into the log (never the token), and the log lines name the id and grants
// only. A follower answers NOT_LEADER and the CLI goes on to the next address (admin-client.ts).
// `list` is a POST so that it needs an admin token when auth is on (admin-http.ts), and shows this
// node's applied table: ids, grants, the index of their last change — never a hash.
import type { SessionCommand } from '../protocol/commands.js';
import type { TokenCommand, TokenRecord } from '../protocol/tokens.js';
import { TOKEN_LIMITS, tokenValidators } from '../protocol/tokens.js';
import type { TokenSpec } from '../rpc/auth.js';
import type { ClientExecutor } from '../rpc/executor.js';
import type { Logger } from './logger.js';

export interface TokensAdminDeps {
  driver: ClientExecutor;
  sm: { tokenTable(): { tokens: ReadonlyMap<string, TokenRecord>; live: number } };
  configTokens: readonly TokenSpec[];
  log: Logger;
  /** How long a change may take to commit (ms). */
  timeoutMs?: number;
}

type Route = (body: string) => Promise<{ status: number; body: unknown }>;

class BadRequest extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const validators = tokenValidators({
  fail: (field, message) => {
    throw new BadRequest(field, `${field} ${message}`);
  },
  own: (o, k) => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined),
});

function parse(body: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(body === '' ? '{}' : body);
  } catch {
    throw new BadRequest('body', 'body must be JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadRequest('body', 'body must be an object');
  return v as Record<string, unknown>;
}

const STATUS: Record<string, number> = { NOT_LEADER: 421, INVALID_ARGUMENT: 400, RESOURCE_EXHAUSTED: 429 };

export function tokenRoutes(d: TokensAdminDeps): Record<string, Route> {
  const propose = async (cmd: TokenCommand): Promise<{ status: number; body: unknown }> => {
    const sc: SessionCommand = { session: null, seq: 0, cmd };
    const r = await d.driver.execute([sc], { deadline: performance.now() + (d.timeoutMs ?? 10_000) });
    const a = r.answers[0];
    if (a === undefined || !a.ok) {
      const e = a?.ok === false ? a.error : { code: 'UNAVAILABLE', message: 'no answer' };
      return { status: STATUS[e.code] ?? 503, body: { ok: false, ...e } };
    }
    const grants = cmd.type === 'addToken' ? cmd.grants.map((g) => `${g.role}:${g.queues}`) : undefined;
    d.log.info(
      { id: cmd.id, index: r.index, ...(grants ? { grants } : {}) },
      `client token ${cmd.type === 'addToken' ? 'added' : 'revoked'}`,
    );
    return { status: 200, body: { ok: true, ...(a.value as object), index: r.index } };
  };
  const wrap =
    (f: (o: Record<string, unknown>) => Promise<{ status: number; body: unknown }>): Route =>
    async (body) => {
      try {
        return await f(parse(body));
      } catch (e) {
        if (!(e instanceof BadRequest)) throw e;
        return { status: 400, body: { ok: false, code: 'INVALID_ARGUMENT', message: e.message, field: e.field } };
      }
    };
  return {
    'POST /admin/tokens/add': wrap((o) => propose(validators.addToken(o))),
    'POST /admin/tokens/revoke': wrap((o) => propose(validators.revokeToken(o))),
    'POST /admin/tokens/list': wrap(async () => ({ status: 200, body: { ok: true, ...listView(d) } })),
  };
}

interface TokenRow {
  id: string;
  source: 'log' | 'config';
  grants: string[];
  index: number | null;
  revoked: boolean;
}

function listView(d: TokensAdminDeps): { appliedIndex: number; tokensMax: number; tokens: TokenRow[] } {
  const { tokens } = d.sm.tokenTable();
  const rows = [...tokens].map(([id, r]): TokenRow => ({
    id,
    source: 'log',
    grants: r.grants.map((g) => `${g.role}:${g.queues}`),
    index: r.index,
    revoked: r.revoked,
  }));
  for (const t of d.configTokens) {
    if (tokens.has(t.id)) continue; // the log's record decides (rotated or revoked)
    rows.push({
      id: t.id,
      source: 'config',
      grants: t.grants.map((g) => `${g.role}:${g.queues}`),
      index: null,
      revoked: false,
    });
  }
  rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { appliedIndex: d.driver.status().appliedIndex, tokensMax: TOKEN_LIMITS.tokensMax, tokens: rows };
}
