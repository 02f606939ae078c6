// Replicated client tokens (issue #14, src/protocol/tokens.ts, docs/security.md): add (or rotate) and
// revoke, applied at the same index on every node. A revocation leaves a tombstone so it also
// revokes a token of that id from the nodes' config files. Each record is in the digest sum and in
// the snapshot (`tokens` chunk, rows sorted by id); the hash is never answered by a command.
import type { Answer, CommandOf } from '../protocol/index.js';
import { TOKEN_LIMITS, type Grant, type TokenCommand, type TokenRecord, type TokenView } from '../protocol/tokens.js';
import type { Hasher } from './hash.js';
import type { MachineState } from './state.js';
import { err, ok } from './state.js';

export type TokenRow = [string, string, Grant[], number, boolean];

function hashToken(st: MachineState, id: string, r: TokenRecord): Hasher {
  const h = st.h
    .reset()
    .tag(61)
    .str(id)
    .str(r.hash)
    .int(r.index)
    .tag(r.revoked ? 1 : 0);
  for (const g of r.grants) h.str(g.role).str(g.queues);
  return h;
}

function put(st: MachineState, id: string, r: TokenRecord): void {
  const old = st.tokens.get(id);
  if (old !== undefined) st.sum.sub(hashToken(st, id, old));
  st.tokensLive += (r.revoked ? 0 : 1) - (old === undefined || old.revoked ? 0 : 1);
  st.tokens.set(id, r);
  st.sum.add(hashToken(st, id, r));
}

export function isTokenCommand(cmd: { type: string }): cmd is TokenCommand {
  return cmd.type === 'addToken' || cmd.type === 'revokeToken';
}

export function tokenCommand(st: MachineState, cmd: TokenCommand): Answer {
  return cmd.type === 'addToken' ? addToken(st, cmd) : revokeToken(st, cmd);
}

export function addToken(st: MachineState, cmd: CommandOf<'addToken'>): Answer {
  const old = st.tokens.get(cmd.id);
  if (old === undefined && st.tokens.size >= TOKEN_LIMITS.tokensMax) {
    const message = `at most ${TOKEN_LIMITS.tokensMax} replicated tokens, revoked ones included (tokensMax)`;
    return err('RESOURCE_EXHAUSTED', message, { limit: 'tokensMax', field: 'id' });
  }
  put(st, cmd.id, { hash: cmd.hash, grants: cmd.grants.map((g) => ({ ...g })), index: st.index, revoked: false });
  return ok({ id: cmd.id, rotated: old !== undefined && !old.revoked, index: st.index });
}

export function revokeToken(st: MachineState, cmd: CommandOf<'revokeToken'>): Answer {
  const old = st.tokens.get(cmd.id);
  if (old?.revoked === true) return ok({ id: cmd.id, revoked: true, existed: true, index: old.index });
  if (old === undefined && st.tokens.size >= TOKEN_LIMITS.tokensMax) {
    const message = `at most ${TOKEN_LIMITS.tokensMax} replicated tokens, revoked ones included (tokensMax)`;
    return err('RESOURCE_EXHAUSTED', message, { limit: 'tokensMax', field: 'id' });
  }
  put(st, cmd.id, { hash: '', grants: [], index: st.index, revoked: true });
  return ok({ id: cmd.id, revoked: true, existed: old !== undefined, index: st.index });
}

/** The table without hashes, sorted by id. */
export function tokenViews(st: MachineState): TokenView[] {
  return [...st.tokens]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, r]) => ({ id, grants: r.grants.map((g) => ({ ...g })), index: r.index, revoked: r.revoked }));
}

export function tokenRows(st: MachineState): TokenRow[] {
  return [...st.tokens]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, r]) => [id, r.hash, r.grants, r.index, r.revoked]);
}

export function restoreTokens(st: MachineState, rows: TokenRow[]): void {
  for (const [id, hash, grants, index, revoked] of rows) {
    const r: TokenRecord = { hash, grants: grants.map((g) => ({ role: g.role, queues: g.queues })), index, revoked };
    st.tokens.set(id, r);
    if (!revoked) st.tokensLive += 1;
    st.sum.add(hashToken(st, id, r));
  }
}
