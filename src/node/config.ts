// Node configuration: flags over RAFTQ_* environment over a JSON config file over defaults.
// Every problem is a ConfigError whose message is one line naming the setting, so the CLI can
// print it and exit 2 instead of a stack trace.
import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { unknownKeyMessage } from '../client/options.js';
import { parseTokenHash, ROLES, type Grant, type Role, type TokenSpec } from '../rpc/auth.js';
import { readTlsBundle, TlsFileError, type TlsPaths } from '../rpc/tls.js';
import { CLIENT_LIMIT_DEFAULT_OPTIONS, type ClientLimits } from '../rpc/rate-limits.js';

export class ConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ConfigError';
  }
}

export interface HostPort {
  host: string;
  port: number;
}

export interface NodeConfig {
  id: string;
  /** Client (SDK) gRPC port. */
  listen: HostPort;
  /** Raft peer gRPC port. */
  peerListen: HostPort;
  /** How this node dials each member's peer port (the member's identity is its id). */
  peers: Map<string, HostPort>;
  dataDir: string;
  http: HostPort | null;
  /** The client address other nodes report for this node (NOT_LEADER hints, status). */
  advertise: string;
  /**
   * Client addresses of this node on named client networks (`--advertise host:port,public=h:p`):
   * a client that names its network follows hints and members to these (src/rpc/networks.ts).
   */
  advertiseNetworks: Record<string, string>;
  clusterId: string | null;
  /** The cluster secret's bytes (peer MACs, docs/security.md); null: peers are not authenticated. */
  clusterSecret: Uint8Array | null;
  /** A second secret accepted (never sent) during a rotation, or null. */
  clusterSecretAccept: Uint8Array | null;
  /** Where both come from, re-read on SIGHUP. */
  clusterSecretFiles: { secret: string; accept: string | null } | null;
  /** Client bearer tokens (hashes and grants); empty: client auth is off. */
  tokens: TokenSpec[];
  /** TLS on all three ports (mutual on the peer port); null: plaintext (docs/security.md). */
  tls: NodeTlsConfig | null;
  /** Per-client limits on the client port (rate-limits.ts); 0 turns one off. */
  clientLimits: ClientLimits;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Raft timing, in milliseconds: a tick is heartbeatMs; heartbeats go every heartbeatTicksFor(electionTicks). */
  heartbeatMs: number;
  electionTicks: number;
  /** Take a snapshot after this many applied entries since the last one. */
  snapshotEveryEntries: number;
  /** MiB of applied log entries' data kept in memory (the rest is read back from disk for a lagging follower). */
  logMemoryMib: number;
  /**
   * Admin HTTP addresses of a running cluster to join as a new member (admin-members.ts); empty: a
   * founding member of --peers. With it, --peers is optional (dial hints only).
   */
  join: string[];
  /** With --join: 'voter' (default) asks for promotion once caught up; 'learner' leaves that to `raftq members promote`. */
  joinAs: 'voter' | 'learner';
}

export interface NodeTlsConfig {
  paths: TlsPaths;
  /** The client port: `require` refuses a client without a certificate signed by the CA. */
  clientAuth: 'none' | 'require';
}

/** The settings a user may give, by their flag name in camelCase. Strings as typed. */
export type RawSettings = Partial<Record<keyof typeof SETTINGS, string>>;

/** Settings, their env var and whether they are required. */
export const SETTINGS = {
  id: { env: 'RAFTQ_ID', required: true },
  listen: { env: 'RAFTQ_LISTEN', required: true },
  peerListen: { env: 'RAFTQ_PEER_LISTEN', required: true },
  /** Required unless --join is given. */
  peers: { env: 'RAFTQ_PEERS', required: false },
  dataDir: { env: 'RAFTQ_DATA_DIR', required: true },
  http: { env: 'RAFTQ_HTTP', required: false },
  advertise: { env: 'RAFTQ_ADVERTISE', required: false },
  clusterId: { env: 'RAFTQ_CLUSTER_ID', required: false },
  clusterSecretFile: { env: 'RAFTQ_CLUSTER_SECRET_FILE', required: false },
  clusterSecretAcceptFile: { env: 'RAFTQ_CLUSTER_SECRET_ACCEPT_FILE', required: false },
  /** JSON: [{"id", "hash", "roles": ["producer:emails.*", ...]}] (config file: the array itself). */
  tokens: { env: 'RAFTQ_TOKENS', required: false },
  tlsCertFile: { env: 'RAFTQ_TLS_CERT_FILE', required: false },
  tlsKeyFile: { env: 'RAFTQ_TLS_KEY_FILE', required: false },
  tlsCaFile: { env: 'RAFTQ_TLS_CA_FILE', required: false },
  tlsClientAuth: { env: 'RAFTQ_TLS_CLIENT_AUTH', required: false },
  limitSessionOpensPerSec: { env: 'RAFTQ_LIMIT_SESSION_OPENS_PER_SEC', required: false },
  limitRequestsPerSec: { env: 'RAFTQ_LIMIT_REQUESTS_PER_SEC', required: false },
  limitCallsInFlightPerAddress: { env: 'RAFTQ_LIMIT_CALLS_IN_FLIGHT_PER_ADDRESS', required: false },
  limitTokenChecksPerSec: { env: 'RAFTQ_LIMIT_TOKEN_CHECKS_PER_SEC', required: false },
  limitConnectionsPerAddress: { env: 'RAFTQ_LIMIT_CONNECTIONS_PER_ADDRESS', required: false },
  logLevel: { env: 'RAFTQ_LOG_LEVEL', required: false },
  heartbeatMs: { env: 'RAFTQ_HEARTBEAT_MS', required: false },
  electionTicks: { env: 'RAFTQ_ELECTION_TICKS', required: false },
  snapshotEveryEntries: { env: 'RAFTQ_SNAPSHOT_EVERY_ENTRIES', required: false },
  logMemoryMib: { env: 'RAFTQ_LOG_MEMORY_MIB', required: false },
  join: { env: 'RAFTQ_JOIN', required: false },
  joinAs: { env: 'RAFTQ_JOIN_AS', required: false },
  /** Deprecated name of snapshotEveryEntries (still accepted, with a warning). */
  snapshotEvery: { env: 'RAFTQ_SNAPSHOT_EVERY', required: false },
} as const;

/** Old setting names → the new ones (the naming rule: a count or duration names its unit). */
const RENAMED_SETTINGS = { snapshotEvery: 'snapshotEveryEntries' } as const;

/** Moves a deprecated setting to its new name (the new one wins), with a warning on stderr. */
function renamedSettings(raw: RawSettings): void {
  for (const [old, now] of Object.entries(RENAMED_SETTINGS) as [keyof RawSettings, keyof RawSettings][]) {
    const v = raw[old];
    if (v === undefined) continue;
    delete raw[old];
    raw[now] ??= v;
    const o = SETTINGS[old].env;
    const n = SETTINGS[now].env;
    process.emitWarning(
      `raftq: --${kebab(old)} / ${o} / "${old}" is deprecated; use --${kebab(now)} / ${n} / "${now}"`,
      { type: 'DeprecationWarning', code: 'RAFTQ_RENAMED_SETTING' },
    );
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Parses `host:port` or `[v6]:port`; the field name goes into the error. */
export function parseHostPort(field: string, s: string): HostPort {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  if (!m) throw new ConfigError(field, `"${s}" is not an address of the form host:port or [v6]:port`);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(field, `port ${m[2]} of "${s}" is out of range 1..65535`);
  }
  return { host: m[1] as string, port };
}

const NETWORK_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * `--advertise`: a comma list of at most one unnamed `host:port` (the default address, --listen when
 * absent) and `name=host:port` entries, one per client network (at most 16).
 */
export function parseAdvertise(
  raw: string | undefined,
  listen: HostPort,
): { advertise: string; networks: Record<string, string> } {
  let advertise: string | null = null;
  const networks: Record<string, string> = {};
  const parts = (raw ?? '').split(',').map((p) => p.trim());
  for (const part of raw === undefined || raw.trim() === '' ? [] : parts) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (advertise !== null) throw new ConfigError('advertise', `two unnamed addresses ("${advertise}", "${part}")`);
      advertise = formatHostPort(parseHostPort('advertise', part));
      continue;
    }
    const name = part.slice(0, eq);
    if (!NETWORK_RE.test(name))
      throw new ConfigError('advertise', `"${name}" is not a network name (letters, digits, _ . -; at most 64)`);
    if (name in networks) throw new ConfigError('advertise', `network "${name}" named twice`);
    networks[name] = formatHostPort(parseHostPort(`advertise.${name}`, part.slice(eq + 1)));
  }
  if (Object.keys(networks).length > 16) throw new ConfigError('advertise', 'at most 16 named networks');
  return { advertise: advertise ?? formatHostPort(listen), networks };
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** `n1=127.0.0.1:7101,n2=...` */
export function parsePeers(s: string): Map<string, HostPort> {
  const peers = new Map<string, HostPort>();
  for (const part of s.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new ConfigError('peers', `"${item}" is not of the form id=host:port`);
    const id = item.slice(0, eq);
    if (!ID_RE.test(id)) throw new ConfigError('peers', `"${id}" is not a valid node id`);
    if (peers.has(id)) throw new ConfigError('peers', `node id "${id}" is listed twice`);
    peers.set(id, parseHostPort('peers', item.slice(eq + 1)));
  }
  if (peers.size === 0) throw new ConfigError('peers', 'no members given');
  return peers;
}

function parseIntSetting(field: string, s: string, min: number, max: number): number {
  const n = Number(s);
  if (!/^\d+$/.test(s.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(field, `"${s}" is not an integer in ${min}..${max}`);
  }
  return n;
}

/** Reads a JSON config file of the same settings (camelCase keys); unknown keys are errors. */
export function readConfigFile(path: string): RawSettings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('config', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('config', `${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new ConfigError('config', `${path} must hold a JSON object`);
  }
  const out: RawSettings = {};
  for (const [k, v] of Object.entries(obj)) {
    if (!(k in SETTINGS))
      throw new ConfigError('config', `${unknownKeyMessage('setting', k, Object.keys(SETTINGS))} in ${path}`);
    if (k === 'tokens' && Array.isArray(v)) {
      out.tokens = JSON.stringify(v);
    } else if (k === 'peers' && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      out.peers = Object.entries(v as Record<string, unknown>)
        .map(([id, a]) => `${id}=${String(a)}`)
        .join(',');
    } else if (typeof v === 'string' || typeof v === 'number') {
      out[k as keyof RawSettings] = String(v);
    } else {
      throw new ConfigError(k, `must be a string or a number in ${path}`);
    }
  }
  return out;
}

/** Merges sources (flags win, then env, then file) and validates everything but the data dir's contents. */
export function resolveConfig(flags: RawSettings, env: NodeJS.ProcessEnv, file: RawSettings = {}): NodeConfig {
  const raw: RawSettings = {};
  for (const [key, spec] of Object.entries(SETTINGS) as [
    keyof typeof SETTINGS,
    (typeof SETTINGS)[keyof typeof SETTINGS],
  ][]) {
    const v = flags[key] ?? env[spec.env] ?? file[key];
    if (v !== undefined && v !== '') raw[key] = v;
    else if (spec.required) throw new ConfigError(key, `is required (flag --${kebab(key)} or ${spec.env})`);
  }
  renamedSettings(raw);
  const id = raw.id as string;
  if (!ID_RE.test(id)) throw new ConfigError('id', `"${id}" is not a valid node id (letters, digits, _ . -)`);
  const listen = parseHostPort('listen', raw.listen as string);
  const peerListen = parseHostPort('peer-listen', raw.peerListen as string);
  const join = raw.join ? raw.join.split(',').map((a) => formatHostPort(parseHostPort('join', a.trim()))) : [];
  if (raw.peers === undefined && join.length === 0)
    throw new ConfigError('peers', 'is required (flag --peers or RAFTQ_PEERS), unless --join is given');
  const joinAs = raw.joinAs ?? 'voter';
  if (joinAs !== 'voter' && joinAs !== 'learner')
    throw new ConfigError('join-as', `"${joinAs}" is not voter or learner`);
  const peers = raw.peers === undefined ? new Map([[id, peerListen]]) : parsePeers(raw.peers);
  if (!peers.has(id) && join.length === 0) {
    throw new ConfigError('id', `"${id}" is not among --peers (${[...peers.keys()].join(', ')})`);
  }
  const http = raw.http ? parseHostPort('http', raw.http) : null;
  const { advertise, networks: advertiseNetworks } = parseAdvertise(raw.advertise, listen);
  const logLevel = (raw.logLevel ?? 'info') as NodeConfig['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError('log-level', `"${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  if (raw.clusterId !== undefined && !ID_RE.test(raw.clusterId)) {
    throw new ConfigError('cluster-id', `"${raw.clusterId}" is not a valid cluster id`);
  }
  const heartbeatMs = raw.heartbeatMs ? parseIntSetting('heartbeat-ms', raw.heartbeatMs, 5, 10_000) : 50;
  const electionTicks = raw.electionTicks ? parseIntSetting('election-ticks', raw.electionTicks, 3, 1000) : 10;
  const snapshotEveryEntries = raw.snapshotEveryEntries
    ? parseIntSetting('snapshot-every-entries', raw.snapshotEveryEntries, 1, 10_000_000)
    : 10_000;
  const logMemoryMib = raw.logMemoryMib ? parseIntSetting('log-memory-mib', raw.logMemoryMib, 0, 1_048_576) : 16;
  return {
    id,
    listen,
    peerListen,
    peers,
    dataDir: raw.dataDir as string,
    http,
    advertise,
    advertiseNetworks,
    clusterId: raw.clusterId ?? null,
    clusterSecret: raw.clusterSecretFile ? readClusterSecret(raw.clusterSecretFile) : null,
    ...secretFiles(raw),
    tokens: raw.tokens ? parseTokens(raw.tokens) : [],
    tls: tlsConfig(raw),
    clientLimits: clientLimits(raw),
    logLevel,
    heartbeatMs,
    electionTicks,
    snapshotEveryEntries,
    logMemoryMib,
    join,
    joinAs,
  };
}

/** The secret file's content, surrounding whitespace trimmed; at least 16 bytes (32 random bytes as hex is good). */
export function readClusterSecret(path: string, field = 'cluster-secret-file'): Uint8Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(field, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const secret = Buffer.from(text.trim(), 'utf8');
  if (secret.byteLength < CLUSTER_SECRET_BYTES_MIN) {
    throw new ConfigError(field, `${path} holds ${secret.byteLength} bytes, fewer than ${CLUSTER_SECRET_BYTES_MIN}`);
  }
  return new Uint8Array(secret);
}

const CLUSTER_SECRET_BYTES_MIN = 16;

function secretFiles(raw: RawSettings): Pick<NodeConfig, 'clusterSecretAccept' | 'clusterSecretFiles'> {
  const accept = raw.clusterSecretAcceptFile ?? null;
  if (accept !== null && raw.clusterSecretFile === undefined)
    throw new ConfigError(
      'cluster-secret-accept-file',
      'needs --cluster-secret-file (the secret this node signs with)',
    );
  return {
    clusterSecretAccept: accept === null ? null : readClusterSecret(accept, 'cluster-secret-accept-file'),
    clusterSecretFiles: raw.clusterSecretFile ? { secret: raw.clusterSecretFile, accept } : null,
  };
}

function clientLimits(raw: RawSettings): ClientLimits {
  const int = (key: keyof RawSettings, fallback: number): number => {
    const v = raw[key];
    return v === undefined ? fallback : parseIntSetting(kebab(key), v, 0, 1_000_000);
  };
  return {
    sessionOpensPerSec: int('limitSessionOpensPerSec', CLIENT_LIMIT_DEFAULT_OPTIONS.sessionOpensPerSec),
    requestsPerSec: int('limitRequestsPerSec', CLIENT_LIMIT_DEFAULT_OPTIONS.requestsPerSec),
    callsInFlightPerAddress: int('limitCallsInFlightPerAddress', CLIENT_LIMIT_DEFAULT_OPTIONS.callsInFlightPerAddress),
    tokenChecksPerSec: int('limitTokenChecksPerSec', CLIENT_LIMIT_DEFAULT_OPTIONS.tokenChecksPerSec),
    connectionsPerAddress: int('limitConnectionsPerAddress', CLIENT_LIMIT_DEFAULT_OPTIONS.connectionsPerAddress ?? 0),
  };
}

/** The three TLS files go together; they are read once here so a bad one stops the start with its name. */
function tlsConfig(raw: RawSettings): NodeTlsConfig | null {
  const given = { certFile: raw.tlsCertFile, keyFile: raw.tlsKeyFile, caFile: raw.tlsCaFile };
  const clientAuth = raw.tlsClientAuth ?? 'none';
  if (clientAuth !== 'none' && clientAuth !== 'require')
    throw new ConfigError('tls-client-auth', `"${clientAuth}" is not one of none, require`);
  const set = Object.entries(given).filter(([, v]) => v !== undefined);
  if (set.length === 0) {
    if (raw.tlsClientAuth !== undefined) throw new ConfigError('tls-client-auth', 'needs --tls-cert-file');
    return null;
  }
  for (const [k, v] of Object.entries(given)) {
    if (v === undefined)
      throw new ConfigError(`tls-${kebab(k)}`, 'is required with the other TLS files (cert, key, CA)');
  }
  const paths = given as TlsPaths;
  try {
    readTlsBundle(paths);
  } catch (err) {
    if (err instanceof TlsFileError) throw new ConfigError(err.field, err.message.slice(err.field.length + 2));
    throw err;
  }
  return { paths, clientAuth };
}

/** The tokens setting: ids, scrypt hashes (never a token itself) and `role:pattern` grants. */
export function parseTokens(text: string): TokenSpec[] {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    throw new ConfigError('tokens', 'is not valid JSON');
  }
  if (!Array.isArray(list)) throw new ConfigError('tokens', 'must be a JSON array of {id, hash, roles}');
  const seen = new Set<string>();
  return list.map((t: unknown, i) => {
    const at = `tokens[${i}]`;
    if (typeof t !== 'object' || t === null) throw new ConfigError(at, 'must be an object {id, hash, roles}');
    const { id, hash, roles, ...rest } = t as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) throw new ConfigError(at, unknownKeyMessage('key', extra, ['id', 'hash', 'roles']));
    if (typeof id !== 'string' || !ID_RE.test(id)) throw new ConfigError(`${at}.id`, 'is not a valid token id');
    if (seen.has(id)) throw new ConfigError(`${at}.id`, `"${id}" is listed twice`);
    seen.add(id);
    if (typeof hash !== 'string' || parseTokenHash(hash) === null)
      throw new ConfigError(`${at}.hash`, 'must be an scrypt hash from `raftq tokens hash` (never the token itself)');
    if (!Array.isArray(roles) || roles.length === 0)
      throw new ConfigError(`${at}.roles`, 'must be a non-empty array of "role:queue-pattern"');
    return { id, hash, grants: roles.map((r: unknown, k) => parseGrant(`${at}.roles[${k}]`, r)) };
  });
}

function parseGrant(at: string, r: unknown): Grant {
  const s = typeof r === 'string' ? r : '';
  const colon = s.indexOf(':');
  const role = (colon < 0 ? s : s.slice(0, colon)) as Role;
  const queues = colon < 0 ? '*' : s.slice(colon + 1);
  if (!ROLES.includes(role)) throw new ConfigError(at, `"${s}" does not start with one of ${ROLES.join(', ')}`);
  if (queues === '' || queues.length > 256) throw new ConfigError(at, `"${s}" has no queue pattern`);
  return { role, queues };
}

/** Creates the data dir if needed and proves it writable, before anything else touches it. */
export function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK | constants.R_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError('data-dir', `${dir} cannot be created or written (${code})`);
  }
}

export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Ticks between the leader's heartbeats: 5 (250 ms at the default tick, half the shortest election
 * timeout, so the leader's check-quorum rounds fall on heartbeat ticks), fewer for short election
 * timeouts, so a follower always hears at least 2 heartbeats within its shortest timeout. Heartbeats
 * only matter when no Append flows (an idle cluster); they are most of its CPU (docs/decisions.md).
 */
export function heartbeatTicksFor(electionTicks: number): number {
  return Math.max(1, Math.min(5, Math.floor(electionTicks / 2)));
}
