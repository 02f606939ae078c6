// One broker node process: durable storage, the Raft driver, the gRPC peer and client services, the
// admin HTTP port, and an orderly SIGTERM (hand over leadership, finish in-flight requests, close
// storage; a second SIGTERM exits at once).
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { QueueStateMachine } from '../statemachine/index.js';
import { makeRaftConfig } from '../raft/config.js';
import { RaftNode } from '../raft/node.js';
import { Rng } from '../raft/rng.js';
import type { Membership, Message, Snapshot } from '../raft/types.js';
import { ClientAuth } from '../rpc/auth.js';
import { tokenRoutes } from './admin-tokens.js';
import { connectionLimiter } from './conn-limit-log.js';
import type { ConnectionLimiter } from '../rpc/conn-limits.js';
import { ClientServer } from '../rpc/client-server.js';
import { ClientRateLimiter } from '../rpc/rate-limits.js';
import type { ClientExecutor } from '../rpc/executor.js';
import type { PeerAuth } from '../rpc/peer-auth.js';
import { PeerServer } from '../rpc/peer-server.js';
import { PeerTransport } from '../rpc/peer-transport.js';
import { ForwardingExecutor } from '../rpc/forward.js';
import { GrpcForwardLink } from '../rpc/forward-link.js';
import { createForwardService, type ForwardService } from '../rpc/forward-server.js';
import { MemberNetworks, withNetworks } from '../rpc/networks.js';
import { AdminHttp, type AdminSource } from './admin-http.js';
import { ConsoleHttp } from './console/console-http.js';
import { peerMemberStatus } from './console/member-status.js';
import { ConfigError, formatHostPort, heartbeatTicksFor, type NodeConfig } from './config.js';
import { NodeDriver, realTimers } from './driver.js';
import { systemClock, type SkewedClock } from './log-clock.js';
import { createLogger, type Logger } from './logger.js';
import { NodeMetrics } from './metrics.js';
import { MetricsRefresher } from './node-metrics-refresh.js';
import { logDeadLetters } from './task-log.js';
import { packageVersion } from './cli-meta.js';
import { refreshSecurityMetrics } from './security-metrics.js';
import { refreshForwardMetrics } from './forward-metrics.js';
import { ClusterMismatchError, CorruptionError, StorageError } from './storage/errors.js';
import { NodeStorage } from './storage/node-storage.js';
import type { KvStore } from './storage/kv.js';
import type { FaultLayer } from './storage/fault-layer.js';
import { makeDataDir } from './storage/data-dir.js';
import { installedNodeHooks, type NodeHooks } from './node-hooks.js';
import { joinerMembership, MembersAdmin } from './admin-members.js';
import { memberVersions } from './admin-versions.js';
import { SM_MAX } from '../statemachine/version.js';
import { runJoin } from './join.js';
import { backupRoutes } from './backup.js';
import { nodeTls, peerAuthOf, reloadPeerSecret, reloadTls, warnPlaintext, type NodeTls } from './node-tls.js';
import { snapshotDataBytes } from './storage/file-backed-snapshot.js';

export interface RunningNode {
  driver: NodeDriver;
  /** Resolves when the node has stopped. */
  stopped: Promise<void>;
  shutdown(): Promise<void>;
  /** Re-reads the TLS files and the cluster secret files (SIGHUP). */
  reload(): void;
}

/** Starts a node and runs until SIGTERM / SIGINT; exits the process on fatal errors. */
export async function runNode(config: NodeConfig): Promise<void> {
  const log = createLogger({ level: config.logLevel, nodeId: config.id });
  let node: RunningNode;
  try {
    node = await startNode(config, log);
  } catch (err) {
    if (err instanceof ClusterMismatchError) throw new ConfigError('data-dir', err.message);
    // A data dir written by a newer release: a config error (exit 2), never touched (docs/operations.md).
    if (err instanceof StorageError && err.code === 'UNSUPPORTED_FORMAT')
      throw new ConfigError('data-dir', err.message);
    if (err instanceof CorruptionError) {
      log.fatal({ err, index: err.index }, 'storage is damaged inside the committed log; refusing to start');
      process.stderr.write(`raftq: ${config.id}: ${err.message}\n`);
      process.exit(3);
    }
    throw err;
  }
  let terms = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    terms++;
    if (terms > 1) {
      log.warn({ sig }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ sig }, 'shutting down');
    node.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => node.reload());
  await node.stopped;
}

/** What startNode built before it listens: storage, the state machine, Raft and the driver. */
interface Core {
  ns: NodeStorage;
  sm: QueueStateMachine;
  raft: RaftNode;
  driver: NodeDriver;
  transport: PeerTransport;
  startCommit: number;
  /** Client tokens: the client port and the admin port check them. */
  auth: ClientAuth;
  /** TLS of every port, or null (plaintext). */
  tls: NodeTls | null;
  /** The peer MAC keys, shared by the peer server and transport (a reload reaches both). */
  peerAuth: PeerAuth | null;
}

/**
 * The composition root: builds the node and starts every listener, or closes whatever it had
 * started and throws (the process then exits non-zero instead of lingering half up). Test-only
 * fault hooks come from `hooks` (installed by a test launcher), never from the environment.
 */
export async function startNode(
  config: NodeConfig,
  log: Logger,
  hooks: NodeHooks = installedNodeHooks(),
): Promise<RunningNode> {
  makeDataDir(config.dataDir);
  const observer = new MetricsRefresher(new NodeMetrics({ version: packageVersion() }));
  const fatalRef: { fatal: (err: Error) => void } = { fatal: () => {} };
  let faults: FaultLayer | null = null;
  const wrapKv = hooks.wrapKv;
  const started: (() => unknown)[] = [];
  try {
    const core = await openCore(config, log, observer, fatalRef, {
      ...hooks,
      ...(wrapKv ? { wrapKv: (kv: KvStore) => (faults = wrapKv(kv)) } : {}),
    });
    started.push(
      () => core.ns.close(),
      () => core.transport.close(),
    );
    const { driver } = core;
    const forward = forwarding(config, driver, core);
    started.push(() => forward.link.close());
    forward.networks.start(() => driver.status().members.map((m) => m.id));
    // Set once the client port is up; the admin port may be scraped before.
    let clientServer: ClientServer | null = null;
    const { peerServer, heard } = await startPeerServer(config, driver, core, forward.service);
    started.push(() => peerServer.close());
    const versions = memberVersions(config, core, forward.link, log);
    const members = new MembersAdmin({ ...core, config, clusterId: core.ns.identity.clusterId, log, versions });
    started.push(() => members.stop());
    attachObservers(observer, log, core, peerServer, () => clientServer, config.dataDir);
    const limiter = new ClientRateLimiter(config.clientLimits, { slowCheck: (a) => core.auth.needsSlowCheck(a) });
    const conns = connectionLimiter(config, log);
    const adminRoutes = { ...members.routes(), ...tokenRoutes({ ...core, configTokens: config.tokens, log }) };
    const admin = buildAdmin(core, observer, peerServer, heard, {
      limited: () => ({ ...limiter.refusals(), ...conns?.refusals() }),
      client: () => clientServer,
      routes: { ...adminRoutes, ...backupRoutes({ ...core, clusterId: core.ns.identity.clusterId }) },
      forward,
      controls: {
        ...(faults ? faultControls(faults) : {}),
        ...(hooks.clock ? clockControls(hooks.clock) : {}),
      },
    });
    if (config.http) {
      started.push(() => admin.close());
      await admin.listen(config.http.host, config.http.port, core.tls?.material);
    }
    const clientExecutor = withNetworks(forward.executor, forward.networks);
    const client = await startClientService(config, clientExecutor, log, { ...core, limiter, conns });
    clientServer = client;
    driver.start();
    startMembers(config, core, members, log);
    logStarted(log, core);
    return running(
      config,
      log,
      core,
      { peerServer, admin, client, members, forwardLink: forward.link },
      fatalRef,
      () => faults,
    );
  } catch (err) {
    // Close in reverse order of start; a close that fails must not hide why the start failed.
    for (const close of started.reverse())
      await Promise.resolve()
        .then(close)
        .catch(() => undefined);
    throw err;
  }
}

function logStarted(log: Logger, core: Core): void {
  const { clusterId, storageId } = core.ns.identity;
  log.info({ clusterId, storageId, applied: core.driver.appliedIndex(), commit: core.startCommit }, 'node started');
}

/** Follows the membership (peer dial map); a --join node asks the cluster to add it, in the background. */
function startMembers(config: NodeConfig, core: Core, members: MembersAdmin, log: Logger): void {
  members.start();
  if (config.join.length === 0) return;
  const token = process.env['RAFTQ_TOKEN'];
  const clusterId = core.ns.identity.clusterId;
  // With TLS on, the other members' admin ports speak HTTPS under the same cluster CA.
  const ca = config.tls ? readFileSync(config.tls.paths.caFile) : undefined;
  void runJoin({
    config,
    raft: core.raft,
    members,
    clusterId,
    log,
    ...(token ? { token } : {}),
    ...(ca ? { ca } : {}),
  });
}

interface Forwarding {
  link: GrpcForwardLink;
  /** The client port's executor: the driver, forwarding to the leader what it cannot serve. */
  executor: ForwardingExecutor;
  /** What this node runs for followers while it leads (on the peer port). */
  service: ForwardService;
  /** The members' client addresses per client network, asked over the same link. */
  networks: MemberNetworks;
}

/** Followers forward the calls of clients that allow it to the leader, over the peer port (issue 18). */
function forwarding(
  config: NodeConfig,
  driver: NodeDriver,
  { tls, peerAuth: auth }: Pick<Core, 'tls' | 'peerAuth'>,
): Forwarding {
  const link = new GrpcForwardLink({
    selfId: config.id,
    peers: peerAddresses(config),
    auth,
    ...(tls ? { credentials: tls.dial } : {}),
  });
  return {
    link,
    executor: new ForwardingExecutor(driver, link, { selfId: config.id }),
    service: createForwardService({ selfId: config.id, executor: driver, auth, networks: config.advertiseNetworks }),
    networks: new MemberNetworks({ selfId: config.id, own: config.advertiseNetworks, sender: link }),
  };
}

/** The peer port, and when each peer was last heard from (wall ms, for the console; bounded). */
async function startPeerServer(
  config: NodeConfig,
  driver: NodeDriver,
  { tls, peerAuth }: Pick<Core, 'tls' | 'peerAuth'>,
  forward: ForwardService,
): Promise<{ peerServer: PeerServer; heard: Map<string, number> }> {
  const heard = new Map<string, number>();
  const peerServer = await PeerServer.start({
    address: formatHostPort(config.peerListen),
    selfId: config.id,
    auth: peerAuth,
    ...(tls ? { credentials: tls.peer } : {}),
    services: [forward],
    onMessage: (m) => {
      if (heard.size < 64 || heard.has(m.from)) heard.set(m.from, Date.now());
      driver.receive(m);
    },
  });
  return { peerServer, heard };
}

/** The admin HTTP port's view of the node: health, status, metrics, the console, test controls. */
function buildAdmin(
  core: Core,
  observer: MetricsRefresher,
  peerServer: PeerServer,
  heard: Map<string, number>,
  more: {
    client: () => ClientServer | null;
    forward: Forwarding;
    routes: NonNullable<AdminSource['routes']>;
    limited: () => Record<string, number>;
    controls: NonNullable<AdminSource['controls']>;
  },
): AdminHttp {
  const { driver } = core;
  return new AdminHttp(
    {
      ready: () => driver.ready(),
      status: () => ({ ...driver.status(), log: driver.logStatus() }),
      digests: () => driver.digestHistory(),
      refreshMetrics: () => {
        observer.refresh();
        const calls = more.client()?.metrics();
        const peerRefused = peerServer.metrics().unauthenticatedCount;
        refreshSecurityMetrics(observer.metrics, peerRefused, calls?.authFailures ?? {}, more.limited());
        refreshForwardMetrics(observer.metrics, more.forward.executor.metrics(), more.forward.service.metrics());
      },
      // Always wired: tokens added through the log turn auth on at run time (checkHttp passes while off).
      authorize: (h, roles) => core.auth.checkHttp(h, roles),
      console: new ConsoleHttp({
        executor: driver,
        storageIds: () => Object.fromEntries(core.raft.status().membership.members.map((m) => [m.id, m.storageId])),
        lastHeard: (id) => heard.get(id),
        // Other members' own status over the peer port: works with client auth and TLS on (issue 15).
        members: peerMemberStatus(more.forward.link),
        watchLeader: (cb) => observer.watchLeader(cb),
      }),
      routes: more.routes,
      controls: more.controls,
    },
    observer.metrics,
  );
}

function warnInsecurePeers(config: NodeConfig, log: Logger): void {
  if (config.clusterSecret !== null || config.peers.size <= 1) return;
  const loopback = /^(127\.|localhost$|::1$)/.test(config.peerListen.host);
  log[loopback ? 'warn' : 'error'](
    { peerListen: formatHostPort(config.peerListen) },
    'no --cluster-secret-file: the peer port accepts Raft messages from anyone who can reach it (forged votes, appends, elections); see docs/security.md',
  );
}

/** Opens storage (reporting what recovery found) and builds the state machine, Raft and the driver. */
async function openCore(
  config: NodeConfig,
  log: Logger,
  observer: MetricsRefresher,
  fatalRef: { fatal: (err: Error) => void },
  hooks: NodeHooks,
): Promise<Core> {
  const ns = await NodeStorage.open(config.dataDir, {
    ...(hooks.wrapKv ? { wrapKv: hooks.wrapKv } : {}),
    ...(config.clusterId ? { clusterId: config.clusterId } : {}),
    initialMembership: (id) => bootstrapMembership(config, id.storageId),
    onFailure: (err) => fatalRef.fatal(err),
    onBatchWritten: (info) => observer.written(info.durationMs, info.ops),
  });
  try {
    reportRecovery(ns.recovered, log);
    warnInsecurePeers(config, log);
    warnPlaintext(config, log);
    const tls = nodeTls(config, log);
    const snapshot: Snapshot | null = ns.mirror.snapshot();
    const storage = ns.mirror;
    const sm = new QueueStateMachine({ smMax: hooks.smMax ?? SM_MAX });
    if (snapshot) sm.restore(snapshot.data);
    const raft = new RaftNode(
      makeRaftConfig({
        id: config.id,
        storageId: ns.identity.storageId,
        group: 0,
        electionTicks: config.electionTicks,
        heartbeatTicks: heartbeatTicksFor(config.electionTicks),
        applied: snapshot?.meta.index ?? 0,
      }),
      storage,
      new Rng(randomBytes(4).readUInt32LE(0)),
    );
    const peerAuth = peerAuthOf(config);
    const transport = peerTransport(config, log, raft, { tls, peerAuth });
    const startCommit = ns.recovered.hardState.commit;
    const driver = new NodeDriver({
      clusterId: ns.identity.clusterId,
      raft,
      storage,
      durable: ns,
      sm,
      send: (msgs: Message[]) => transport.send(msgs),
      advertise: config.advertise,
      clock: hooks.clock ?? systemClock,
      timers: realTimers,
      log,
      tickMs: config.heartbeatMs,
      electionTicks: config.electionTicks,
      snapshotEvery: config.snapshotEveryEntries,
      // Entries kept below a snapshot for slightly lagging followers: never more than one snapshot
      // interval, so a small --snapshot-every-entries really bounds the log.
      snapshotKeep: Math.min(1000, config.snapshotEveryEntries),
      logMemoryBytes: config.logMemoryMib * 1024 * 1024,
      startCommit,
      onApplied: (i) => observer.applied(i),
      onLeaderChange: (leader, term) => observer.leaderChanged(leader, term),
      onCommandsAnswered: (ms) => observer.commandsAnswered(ms),
      fsyncSummary: () => observer.fsyncSummary(),
      onFatal: (err) => fatalRef.fatal(err),
    });
    const auth = new ClientAuth(config.tokens, () => sm.tokenTable());
    return { ns, sm, raft, driver, transport, startCommit, auth, tls, peerAuth };
  } catch (err) {
    await ns.close().catch(() => undefined);
    throw err;
  }
}

/** How this node dials its peers (MAC-signed when a cluster secret is set). */
function peerTransport(
  config: NodeConfig,
  log: Logger,
  raft: RaftNode,
  { tls, peerAuth }: Pick<Core, 'tls' | 'peerAuth'>,
): PeerTransport {
  return new PeerTransport({
    selfId: config.id,
    peers: peerAddresses(config),
    auth: peerAuth,
    ...(tls ? { credentials: tls.dial } : {}),
    onPeerStatus: (peer, reachable, reason) => peerStatusLog(log, raft, peer, reachable, reason),
  });
}

/** The other members' peer ports: id -> host:port. */
function peerAddresses(config: NodeConfig): Map<string, string> {
  const peers = new Map<string, string>();
  for (const [id, hp] of config.peers) if (id !== config.id) peers.set(id, formatHostPort(hp));
  return peers;
}

/** Metrics and the dead-letter log lines follow the applied task events. */
function attachObservers(
  observer: MetricsRefresher,
  log: Logger,
  core: Core,
  peerServer: PeerServer,
  client: () => ClientServer | null,
  dataDir: string,
): void {
  const snapshotBytes = (): number => snapshotDataBytes(core.ns.mirror.snapshot());
  observer.attach({ ...core, peerServer, client, snapshotBytes, dataDir });
  logDeadLetters(core.driver, log);
}

/** Peer links lost (warn, with why) and back (info): visible at the default level (docs/decisions.md). */
function peerStatusLog(log: Logger, raft: RaftNode, peer: string, reachable: boolean, reason?: string): void {
  const term = raft.status().term;
  if (reachable) log.info({ peer, term }, 'peer reachable');
  else log.warn({ peer, term, reason }, 'peer unreachable');
}

function reportRecovery(recovered: NodeStorage['recovered'], log: Logger): void {
  if (recovered.truncated) {
    log.warn(
      { from: recovered.truncated.fromIndex, reason: recovered.truncated.reason },
      'truncated a damaged log tail',
    );
  }
  if (recovered.lost) {
    const { reason, floor, fromTerm, toTerm } = recovered.lost;
    log.error(
      { reason, floor, fromTerm, toTerm },
      'storage lost state this node had promised: restarting in recovery, one term up; it will not vote or campaign until it has caught up from a leader (docs/faults.md P11)',
    );
  } else if (recovered.hardState.recovery) {
    log.warn(
      { floor: recovered.hardState.recovery },
      'still recovering from a storage loss: not voting until caught up',
    );
  }
}

/** The started node: an orderly shutdown, and the fatal path (exit 4). */
function running(
  config: NodeConfig,
  log: Logger,
  core: Core,
  listeners: {
    peerServer: PeerServer;
    admin: AdminHttp;
    client: ClientServer;
    members: MembersAdmin;
    forwardLink: GrpcForwardLink;
  },
  fatalRef: { fatal: (err: Error) => void },
  faults: () => FaultLayer | null,
): RunningNode {
  const { driver, transport, ns } = core;
  const { peerServer, admin, client, members } = listeners;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let closing: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    closing ??= (async () => {
      if (driver.status().role === 'leader') {
        const moved = await driver.transferLeadership(3_000);
        log.info({ moved }, 'leadership transfer before shutdown');
      }
      members.stop();
      await client.close();
      listeners.forwardLink.close();
      driver.stop();
      await peerServer.close();
      transport.close();
      await admin.close();
      await ns.close();
      resolveStopped();
    })();
    return closing;
  };
  fatalRef.fatal = (err: Error) => {
    // Test-only power cut in progress: the fault layer is still rolling back unsynced writes. Exiting
    // now would cut that short and keep writes a real power loss drops; its SIGKILL is coming.
    if (faults()?.isPoweredOff) return;
    log.fatal({ err }, 'fatal storage or driver error: stopping the node');
    process.stderr.write(`raftq: ${config.id}: fatal: ${err.message}\n`);
    // After a failed fsync the page cache is unknown (docs/faults.md P12): exit and recover from disk.
    process.exit(4);
  };
  const reload = (): void => {
    if (core.tls !== null) reloadTls(core.tls, log);
    const secret = reloadPeerSecret(core.peerAuth, config, log);
    if (core.tls === null && secret === null)
      log.warn('SIGHUP: no TLS and no cluster secret configured, nothing to reload');
  };
  return { driver, stopped, shutdown, reload };
}

/**
 * The membership a fresh data dir starts from: every --peers member as a voter. Only this node's
 * storage id and address are known; the first leader learns the others and commits them.
 */
export function bootstrapMembership(config: NodeConfig, storageId: string): Membership {
  if (config.join.length > 0) return joinerMembership();
  return {
    members: [...config.peers.keys()].sort().map((id) => ({
      id,
      storageId: id === config.id ? storageId : '',
      address: id === config.id ? config.advertise : '',
      role: 'voter' as const,
    })),
  };
}

function faultControls(f: FaultLayer): Record<string, (body: string) => Promise<unknown>> {
  return {
    /** Drop every write whose fsync had not completed; refuse all later writes. Then SIGKILL us. */
    '/debug/fault/power-loss': async () => f.powerLoss(),
    '/debug/fault/fail-fsync': async (body) => f.failNextSyncs(Number(body || '1')),
    '/debug/fault/slow-fsync': async (body) => {
      f.syncDelayMs = Number(body || '0');
    },
  };
}

function clockControls(c: SkewedClock): Record<string, (body: string) => Promise<unknown>> {
  return {
    /** Body: {"wallOffsetMs": n, "monoRate": r}; either may be omitted. */
    '/debug/fault/clock': async (body) => {
      const o = JSON.parse(body || '{}') as { wallOffsetMs?: number; monoRate?: number };
      if (o.wallOffsetMs !== undefined) c.setWallOffset(Number(o.wallOffsetMs));
      if (o.monoRate !== undefined) c.setMonoRate(Number(o.monoRate));
      return { wallOffsetMs: c.wallOffsetMs, monoRate: c.monoRate };
    },
  };
}

async function startClientService(
  config: NodeConfig,
  driver: ClientExecutor,
  log: Logger,
  {
    auth,
    tls,
    limiter,
    conns,
  }: Pick<Core, 'auth' | 'tls'> & { limiter: ClientRateLimiter; conns: ConnectionLimiter | null },
): Promise<ClientServer> {
  const server = await ClientServer.start({
    address: formatHostPort(config.listen),
    executor: driver,
    auth,
    ...(tls ? { credentials: tls.client } : {}),
    interceptors: [limiter.interceptor()],
    rateLimiter: limiter,
    ...(conns ? { connections: conns } : {}),
  });
  log.info(
    {
      address: server.address,
      auth: auth.enabled ? `${config.tokens.length} tokens` : 'off',
      tls: config.tls ? `on (client certificates: ${config.tls.clientAuth})` : 'off',
      rawSubmit: !tls,
    },
    'client service listening',
  );
  return server;
}
