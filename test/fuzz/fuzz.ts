// Hostile-input fuzzing of a real 3-node cluster (issue #14), bounded in count and time: random and
// mutated bytes at the gRPC layer on every client RPC (to every node) and on every peer RPC (to a
// follower): bare garbage, forged unsigned messages, and signed requests whose message bytes are
// garbage or mutated (they pass the MAC and reach the decoder). Every call must end with a typed
// status (never INTERNAL / UNKNOWN, which mean a handler threw), every node must stay up and ready,
// and the replicas' digests must agree at every common index afterwards. The raw Submit lane of the
// client port gets garbage and mutated frames too (raw-lane.ts). A seeded PRNG makes a run
// reproducible (`--seed`).
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { MessageType, type Message } from '../../src/raft/types.js';
import { CLIENT_SERVICE } from '../../src/protocol/proto.js';
import { peerMac, type PeerAuth } from '../../src/rpc/peer-auth.js';
import { encodeMessage, headerOf } from '../../src/rpc/peer-codec.js';
import { PEER_SERVICE } from '../../src/rpc/peer-server.js';
import { loadProtoFile } from '../../src/rpc/proto.js';
import { laneCall, laneInput, laneOutcomeOk } from './raw-lane.js';
import { assertDigestsAgree, startCluster, waitForLeader, type TestCluster } from '../integration/helpers.js';

export interface FuzzOptions {
  /** Inputs to send at most. */
  count: number;
  /** Stop sending after this long, whatever the count. */
  timeMs: number;
  seed: number;
  /** Calls in flight at once. */
  concurrency?: number;
  log?: (line: string) => void;
}

export interface FuzzReport {
  sent: number;
  bySurface: Record<string, number>;
  /** gRPC status name -> calls. */
  codes: Record<string, number>;
  /** What went wrong: a bad status, a node down, digests apart. Empty: passed. */
  failures: string[];
  digestsCompared: number;
}

const ALLOWED = new Set<grpc.status>([
  grpc.status.OK,
  grpc.status.CANCELLED,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.NOT_FOUND,
  grpc.status.ALREADY_EXISTS,
  grpc.status.PERMISSION_DENIED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.OUT_OF_RANGE,
  grpc.status.UNAVAILABLE,
  grpc.status.UNAUTHENTICATED,
]);

/** Mulberry32: small, seedable, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  bytes(max: number): Buffer {
    const b = Buffer.alloc(this.int(max + 1));
    for (let i = 0; i < b.length; i++) b[i] = this.int(256);
    return b;
  }
  /** Bit flips, byte sets, truncation, insertion, duplication, length-prefix lies. */
  mutate(src: Buffer): Buffer {
    let b = Buffer.from(src);
    for (let k = 1 + this.int(4); k > 0; k--) {
      const at = b.length === 0 ? 0 : this.int(b.length);
      switch (this.int(6)) {
        case 0:
          if (b.length > 0) b[at] = (b[at] as number) ^ (1 << this.int(8));
          break;
        case 1:
          if (b.length > 0) b[at] = this.pick([0, 0x7f, 0x80, 0xff, this.int(256)]);
          break;
        case 2:
          b = b.subarray(0, at);
          break;
        case 3:
          b = Buffer.concat([b.subarray(0, at), this.bytes(16), b.subarray(at)]);
          break;
        case 4:
          b = Buffer.concat([b, b.subarray(at)]);
          break;
        default:
          // A huge varint where a length may be.
          b = Buffer.concat([b.subarray(0, at), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), b.subarray(at)]);
      }
    }
    return b;
  }
}

type Method = grpc.MethodDefinition<unknown, unknown>;

interface Target {
  client: grpc.Client;
  service: string;
  /** host:port of the node's port. */
  address: string;
}

/** One call with raw bytes; resolves with its status code (streams are read briefly, then cancelled). */
function rawCall(t: Target, name: string, m: Method, body: Buffer | Buffer[]): Promise<grpc.status> {
  const path = `/${t.service}/${name}`;
  const id = (b: Buffer): Buffer => b;
  const deadline = Date.now() + 3_000;
  return new Promise((resolve) => {
    const done = (code: grpc.status): void => resolve(code);
    if (m.requestStream) {
      const cb = (err: grpc.ServiceError | null): void => done(err ? err.code : grpc.status.OK);
      const call = m.responseStream
        ? t.client.makeBidiStreamRequest(path, id, id, new grpc.Metadata(), { deadline })
        : t.client.makeClientStreamRequest(path, id, id, new grpc.Metadata(), { deadline }, cb);
      if (m.responseStream) {
        const bidi = call as grpc.ClientDuplexStream<Buffer, Buffer>;
        bidi.on('data', () => undefined);
        bidi.on('error', (e: grpc.ServiceError) => done(e.code));
        bidi.on('end', () => done(grpc.status.OK));
        setTimeout(() => bidi.cancel(), 300).unref();
      }
      for (const b of Array.isArray(body) ? body : [body]) call.write(b);
      call.end();
      return;
    }
    const one = Array.isArray(body) ? (body[0] ?? Buffer.alloc(0)) : body;
    if (m.responseStream) {
      const s = t.client.makeServerStreamRequest(path, id, id, one, new grpc.Metadata(), { deadline });
      s.on('data', () => s.cancel());
      s.on('error', (e: grpc.ServiceError) => done(e.code));
      s.on('end', () => done(grpc.status.OK));
      setTimeout(() => s.cancel(), 300).unref();
      return;
    }
    t.client.makeUnaryRequest(path, id, id, one, new grpc.Metadata(), { deadline }, (err) =>
      done(err ? err.code : grpc.status.OK),
    );
  });
}

/** A request object that fills the fields most client requests have (unknown ones are ignored). */
const CLIENT_SEED = {
  header: { timeoutMs: 500 },
  queue: 'fuzz.q',
  id: '1',
  tasks: [{ payload: Buffer.from('x') }],
  items: [{ id: '1', token: '1' }],
  read: { timeoutMs: 500 },
  settings: {},
  timeoutMs: 200,
  callTimeoutMs: 500,
};

interface Surfaces {
  client: { targets: Target[]; methods: [string, Method, Buffer][]; laneRequest: Buffer };
  peer: { target: Target; methods: [string, Method][]; auth: PeerAuth; to: string; from: string };
}

function surfaces(tc: TestCluster, follower: string, leader: string): Surfaces {
  const clientDef = loadProtoFile('client.proto')[CLIENT_SERVICE] as unknown as Record<string, Method>;
  const peerDef = loadProtoFile('peer.proto')[PEER_SERVICE] as unknown as Record<string, Method>;
  const targets = tc.cluster.specs.map((s) => ({
    client: new grpc.Client(`127.0.0.1:${s.clientPort}`, grpc.credentials.createInsecure()),
    service: CLIENT_SERVICE,
    address: `127.0.0.1:${s.clientPort}`,
  }));
  const methods = Object.entries(clientDef).map(([name, m]): [string, Method, Buffer] => [
    name,
    m,
    m.requestSerialize(CLIENT_SEED),
  ]);
  const secret = new Uint8Array(Buffer.from(readFileSync(tc.cluster.clusterSecretFile as string, 'utf8').trim()));
  const peerTarget = {
    client: new grpc.Client(`127.0.0.1:${tc.cluster.spec(follower).peerPort}`, grpc.credentials.createInsecure()),
    service: PEER_SERVICE,
    address: `127.0.0.1:${tc.cluster.spec(follower).peerPort}`,
  };
  const laneRequest = (clientDef['SubmitStream'] as Method).requestSerialize({
    id: 1,
    timeoutMs: 200,
    submit: { items: [{ enqueue: CLIENT_SEED }] },
  });
  return {
    client: { targets, methods, laneRequest },
    peer: {
      target: peerTarget,
      methods: Object.entries(peerDef),
      auth: { secret, clusterId: tc.cluster.clusterId },
      to: follower,
      from: leader,
    },
  };
}

/** A peer request body: garbage, a forged unsigned message, or a signed request with bad message bytes. */
function peerBody(g: Gen, s: Surfaces['peer'], m: Method): { kind: string; body: Buffer } {
  // Term 0 and group 7: anything that still decodes is below the node's term and in no group of it.
  const base: Message = {
    type: g.pick([MessageType.Heartbeat, MessageType.Vote, MessageType.Append, MessageType.TimeoutNow]),
    group: 7,
    term: 0,
    from: g.pick([s.from, 'zz', '']),
    to: g.pick([s.to, s.to, 'nobody']),
    fromStorage: 's-x',
  } as Message;
  const valid = Buffer.from(encodeMessage(base));
  switch (g.int(4)) {
    case 0:
      return { kind: 'peer-garbage', body: g.bytes(256) };
    case 1:
      return { kind: 'peer-unsigned', body: m.requestSerialize({ header: headerOf(base), message: valid }) };
    default: {
      const bytes = g.int(2) === 0 ? g.mutate(valid) : g.bytes(128);
      const header = headerOf(base);
      const mac = peerMac(s.auth, header, bytes);
      const frame = m.requestSerialize({ header, message: bytes, mac, chunk_bytes: g.int(64), data: g.bytes(32) });
      return { kind: 'peer-signed', body: g.int(3) === 0 ? g.mutate(frame) : frame };
    }
  }
}

async function one(g: Gen, s: Surfaces, report: FuzzReport): Promise<void> {
  let kind: string;
  let code: grpc.status;
  const surface = g.int(6);
  if (surface === 5) return lane(g, s, report);
  if (surface < 3) {
    const [name, m, seed] = g.pick(s.client.methods);
    const random = g.int(4) === 0;
    kind = random ? 'client-random' : 'client-mutated';
    code = await rawCall(g.pick(s.client.targets), name, m, random ? g.bytes(200) : g.mutate(seed));
    if (!ALLOWED.has(code)) report.failures.push(`${kind} ${name}: ${grpc.status[code]}`);
  } else {
    const [name, m] = g.pick(s.peer.methods);
    const built = peerBody(g, s.peer, m);
    kind = built.kind;
    const body = m.requestStream && g.int(2) === 0 ? [built.body, peerBody(g, s.peer, m).body] : built.body;
    code = await rawCall(s.peer.target, name, m, body);
    if (!ALLOWED.has(code)) report.failures.push(`${kind} ${name}: ${grpc.status[code]}`);
  }
  report.sent += 1;
  report.bySurface[kind] = (report.bySurface[kind] ?? 0) + 1;
  const c = grpc.status[code] ?? String(code);
  report.codes[c] = (report.codes[c] ?? 0) + 1;
}

/** One input on the raw Submit lane of a node's client port (raw-lane.ts). */
async function lane(g: Gen, s: Surfaces, report: FuzzReport): Promise<void> {
  const outcome = await laneCall(g.pick(s.client.targets).address, laneInput(g, s.client.laneRequest));
  if (!laneOutcomeOk(outcome)) report.failures.push(`client-lane: ${outcome}`);
  report.sent += 1;
  report.bySurface['client-lane'] = (report.bySurface['client-lane'] ?? 0) + 1;
  report.codes[outcome] = (report.codes[outcome] ?? 0) + 1;
}

/** Starts a cluster, fuzzes it within the bounds, checks it, stops it. */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const log = opts.log ?? (() => undefined);
  const report: FuzzReport = { sent: 0, bySurface: {}, codes: {}, failures: [], digestsCompared: 0 };
  const tc = await startCluster(3, { logLevel: 'warn' });
  let s: Surfaces | null = null;
  try {
    const leader = await waitForLeader(tc.cluster);
    const follower = tc.cluster.specs.find((x) => x.id !== leader)?.id as string;
    s = surfaces(tc, follower, leader);
    const g = new Gen(prng(opts.seed));
    const end = performance.now() + opts.timeMs;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < opts.count && performance.now() < end && report.failures.length < 20) {
        next += 1;
        await one(g, s as Surfaces, report);
        if (report.sent % 5000 === 0) log(`fuzz: ${report.sent} inputs, codes ${JSON.stringify(report.codes)}`);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
    for (const e of tc.exits) report.failures.push(`node ${e.id} exited (${e.signal ?? e.code})`);
    await waitForLeader(tc.cluster, 20_000).catch((e: unknown) =>
      report.failures.push(`no leader after: ${String(e)}`),
    );
    report.digestsCompared = await assertDigestsAgree(
      tc.cluster,
      tc.cluster.specs.map((x) => x.id),
    ).catch((e: unknown) => {
      report.failures.push(String(e));
      return 0;
    });
  } finally {
    for (const t of s?.client.targets ?? []) t.client.close();
    s?.peer.target.client.close();
    await tc.cleanup();
  }
  return report;
}
