// Replicated client tokens (issue #14, docs/security.md): `raftq tokens add|revoke` put a token's
// scrypt hash and grants in the log, so every node agrees on them at the same index and a change
// needs no restart. Only the hash is ever in the log, snapshots or logs; the token itself stays with
// the operator. A revocation is a tombstone: it also revokes a token of the same id from a node's
// config file. Roles and grants are the ones of src/rpc/auth.ts.

export const ROLES = ['producer', 'worker', 'admin', 'reader'] as const;
export type Role = (typeof ROLES)[number];

export interface Grant {
  role: Role;
  /** Queue-name pattern: `*` matches any run of characters (`emails.*`, `*`, or an exact name). */
  queues: string;
}

export type TokenCommand =
  | {
      /** Adds a token, or rotates one: a token of the same id is replaced (its old secret stops working). */
      type: 'addToken';
      id: string;
      /** `scrypt$N$r$p$salt$key` (base64url): the hash, never the token. */
      hash: string;
      grants: Grant[];
    }
  | { type: 'revokeToken'; id: string };

export type TokenCommandType = TokenCommand['type'];

/** A replicated token as the nodes hold it (the hash stays inside the node: never answered). */
export interface TokenRecord {
  hash: string;
  grants: Grant[];
  /** The entry that added (or last rotated / revoked) it. */
  index: number;
  revoked: boolean;
}

/** What `tokens list` shows of a replicated token (no hash). */
export interface TokenView {
  id: string;
  grants: Grant[];
  index: number;
  revoked: boolean;
}

export const TOKEN_LIMITS = {
  /** Replicated tokens, live and revoked together. */
  tokensMax: 1_000,
  grantsMax: 32,
  patternBytesMax: 256,
} as const;

export const TOKEN_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const HASH_RE = /^scrypt\$[0-9]{1,8}\$[0-9]{1,3}\$[0-9]{1,3}\$[A-Za-z0-9_-]{11,128}\$[A-Za-z0-9_-]{22,256}$/;
const PATTERN_RE = /^[\x21-\x7e]+$/;

type Obj = Record<string, unknown>;

/** The field checkers of validate.ts (they throw its Invalid, which validateCommand turns into an answer). */
export interface TokenFieldCheckers {
  fail(field: string, message: string): never;
  own(o: Obj, k: string): unknown;
}

/** Validators of the token commands, spread into validate.ts's table. */
export function tokenValidators(c: TokenFieldCheckers): Record<TokenCommandType, (o: Obj) => TokenCommand> {
  const id = (o: Obj): string => {
    const v = c.own(o, 'id');
    if (typeof v !== 'string' || !TOKEN_ID_RE.test(v))
      c.fail('id', 'must be a token id (letters, digits, _ . -; 1..64)');
    return v;
  };
  const grant = (v: unknown, path: string): Grant => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) c.fail(path, 'must be a grant {role, queues}');
    const role = c.own(v as Obj, 'role');
    if (!ROLES.includes(role as Role)) c.fail(`${path}.role`, `must be one of ${ROLES.join(', ')}`);
    const queues = c.own(v as Obj, 'queues');
    if (typeof queues !== 'string' || queues.length > TOKEN_LIMITS.patternBytesMax || !PATTERN_RE.test(queues))
      c.fail(
        `${path}.queues`,
        `must be a queue-name pattern of 1..${TOKEN_LIMITS.patternBytesMax} printable characters`,
      );
    return { role: role as Role, queues };
  };
  return {
    addToken: (o) => {
      const hash = c.own(o, 'hash');
      if (typeof hash !== 'string' || !HASH_RE.test(hash)) c.fail('hash', 'must be a scrypt hash from `raftq tokens`');
      const grants = c.own(o, 'grants');
      if (!Array.isArray(grants) || grants.length === 0 || grants.length > TOKEN_LIMITS.grantsMax)
        c.fail('grants', `must be a list of 1..${TOKEN_LIMITS.grantsMax} grants`);
      return { type: 'addToken', id: id(o), hash, grants: grants.map((g, i) => grant(g, `grants[${i}]`)) };
    },
    revokeToken: (o) => ({ type: 'revokeToken', id: id(o) }),
  };
}

/** Parses `role:pattern` (CLI and config form); null when malformed. */
export function parseGrant(s: string): Grant | null {
  const colon = s.indexOf(':');
  const role = (colon < 0 ? s : s.slice(0, colon)) as Role;
  const queues = colon < 0 ? '*' : s.slice(colon + 1);
  if (!ROLES.includes(role) || queues === '' || !PATTERN_RE.test(queues)) return null;
  return { role, queues };
}
