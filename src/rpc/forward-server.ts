// The leader's side of the ClientForward peer service (peer.proto): runs what a follower forwarded on
// this node's own executor (never forwarding it again: one hop), within the budget the caller had
// left. Input from a peer is checked like any client input (MAC, addressee, command validation) and a
// refusal is a gRPC status that says nothing ran; an answer (NOT_LEADER included) goes back as is.
import * as grpc from '@grpc/grpc-js';
import { DEFAULT_LIMITS, type Limits } from '../protocol/limits.js';
import { assert } from '../protocol/assert.js';
import type { NodeId } from '../raft/types.js';
import type { ClientExecutor } from './executor.js';
import {
  decodeExecuteBody,
  decodeReadBody,
  encodeExecuteResult,
  encodeReadAnswer,
  type ExecuteBody,
  type ReadBody,
} from './forward-codec.js';
import { FORWARD_SERVICE, replyMac, type ForwardKind } from './forward-link.js';
import { encodeMemberStatus } from './member-status-codec.js';
import { peerMacValid, type PeerAuth } from './peer-auth.js';
import { encodeNetworks, type Networks } from './networks.js';
import { loadProtoFile } from './proto.js';

export interface ForwardServiceOptions {
  selfId: NodeId;
  /** This node's own executor (the driver): forwarded work runs here and goes no further. */
  executor: ClientExecutor;
  auth?: PeerAuth | null;
  limits?: Limits;
  /** Forwarded calls running at once; one more is answered RESOURCE_EXHAUSTED (nothing ran). */
  servingMax?: number;
  /** Monotonic clock of the executor's deadlines (default performance.now). */
  now?: () => number;
  /** This node's client addresses on named networks, answered to a peer's Addresses call. */
  networks?: Networks;
}

export interface ForwardServiceMetrics {
  served: number;
  refused: number;
  serving: number;
}

export interface ForwardService {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
  metrics(): ForwardServiceMetrics;
}

interface WireRequest {
  header?: unknown;
  body?: unknown;
  mac?: unknown;
}
type Unary = grpc.ServerUnaryCall<{ ok: true; value: WireRequest } | { ok: false }, object>;
type Callback = grpc.sendUnaryData<object>;

export const FORWARD_SERVING_MAX = 4096;

export function createForwardService(opts: ForwardServiceOptions): ForwardService {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const servingMax = opts.servingMax ?? FORWARD_SERVING_MAX;
  const now = opts.now ?? (() => performance.now());
  const counters: ForwardServiceMetrics = { served: 0, refused: 0, serving: 0 };
  const refuse = (cb: Callback, code: grpc.status, details: string): void => {
    counters.refused += 1;
    cb({ code, details });
  };

  const handler = (kind: ForwardKind) => (call: Unary, cb: Callback) => {
    const admitted = admit(kind, call.request, opts);
    if (typeof admitted === 'string') return refuse(cb, grpc.status.INVALID_ARGUMENT, admitted);
    if ('unauthenticated' in admitted)
      return refuse(cb, grpc.status.UNAUTHENTICATED, 'forward request without a valid MAC under the cluster secret');
    const decoded = kind === 'Execute' ? decodeExecuteBody(admitted.body, limits) : decodeReadBody(admitted.body);
    if (!decoded.ok) return refuse(cb, grpc.status.INVALID_ARGUMENT, decoded.reason);
    if (counters.serving >= servingMax)
      return refuse(cb, grpc.status.RESOURCE_EXHAUSTED, `${counters.serving} forwarded calls running (servingMax)`);
    counters.serving += 1;
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    run(kind, decoded.value, now, opts.executor, abort.signal).then(
      (body) => {
        counters.serving -= 1;
        counters.served += 1;
        const auth = opts.auth ?? null;
        const mac = auth ? replyMac(auth, opts.selfId, admitted.from, body, admitted.mac) : undefined;
        cb(null, { body, ...(mac ? { mac } : {}) });
      },
      (e: unknown) => {
        counters.serving -= 1;
        cb({ code: grpc.status.INTERNAL, details: e instanceof Error ? e.message : 'forwarded call failed' });
      },
    );
  };
  // Cheap and bounded: no executor work, one small body.
  const addresses = (call: Unary, cb: Callback): void => {
    const admitted = admit('Addresses', call.request, opts);
    if (typeof admitted === 'string') return refuse(cb, grpc.status.INVALID_ARGUMENT, admitted);
    if ('unauthenticated' in admitted)
      return refuse(cb, grpc.status.UNAUTHENTICATED, 'forward request without a valid MAC under the cluster secret');
    const body = encodeNetworks(opts.networks ?? {});
    const auth = opts.auth ?? null;
    const mac = auth ? replyMac(auth, opts.selfId, admitted.from, body, admitted.mac) : undefined;
    cb(null, { body, ...(mac ? { mac } : {}) });
  };
  return {
    definition: serviceDefinition(),
    implementation: {
      Execute: handler('Execute'),
      Read: handler('Read'),
      Status: (call: Unary, cb: Callback) => memberStatus(call, cb, opts, refuse),
      Addresses: addresses,
    },
    metrics: () => ({ ...counters }),
  };
}

/**
 * A member's own status for another member's console (issue 15): what only this node knows (its
 * fsync latency, its indexes), MAC-checked like a forward, answered at once from the executor.
 */
function memberStatus(
  call: Unary,
  cb: Callback,
  opts: ForwardServiceOptions,
  refuse: (cb: Callback, code: grpc.status, details: string) => void,
): void {
  const admitted = admit('Status', call.request, opts);
  if (typeof admitted === 'string') return refuse(cb, grpc.status.INVALID_ARGUMENT, admitted);
  if ('unauthenticated' in admitted)
    return refuse(cb, grpc.status.UNAUTHENTICATED, 'status request without a valid MAC under the cluster secret');
  const body = encodeMemberStatus(opts.executor.status());
  const auth = opts.auth ?? null;
  const mac = auth ? replyMac(auth, opts.selfId, admitted.from, body, admitted.mac) : undefined;
  cb(null, { body, ...(mac ? { mac } : {}) });
}

async function run(
  kind: ForwardKind,
  body: ExecuteBody | ReadBody,
  now: () => number,
  executor: ClientExecutor,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const deadline = now() + body.budgetMs;
  if ('cmds' in body) {
    const hold = body.maxHoldMs > 0 ? { maxHoldMs: body.maxHoldMs } : {};
    const result = await executor.execute(body.cmds, { deadline, signal, ...hold });
    assert(result.answers.length === body.cmds.length, 'the executor answers every command');
    return encodeExecuteResult(result);
  }
  assert(kind === 'Read', 'a read body comes with Read');
  return encodeReadAnswer(await executor.read(body.query, { consistency: 'linearizable', deadline }));
}

/** The body and MAC of a well-formed request addressed to this node, or why not. */
function admit(
  kind: ForwardKind,
  decoded: { ok: true; value: WireRequest } | { ok: false },
  opts: ForwardServiceOptions,
): { body: Uint8Array; from: NodeId; mac: Uint8Array } | { unauthenticated: true } | string {
  if (!decoded.ok) return 'protobuf: undecodable request';
  const { header, body, mac } = decoded.value;
  if (!(body instanceof Uint8Array) || body.byteLength === 0) return 'body: empty';
  const auth = opts.auth ?? null;
  if (auth && !peerMacValid(auth, header, body, mac)) return { unauthenticated: true };
  const h = (header ?? {}) as Record<string, unknown>;
  if (h['type'] !== kind) return `header.type: not ${kind}`;
  if (h['to'] !== opts.selfId) return `addressed to ${String(h['to'])}, this is ${opts.selfId}`;
  const from = h['from'];
  if (typeof from !== 'string' || from === '' || from.length > 256) return 'header.from';
  return { body, from, mac: mac instanceof Uint8Array ? mac : new Uint8Array(0) };
}

function serviceDefinition(): grpc.ServiceDefinition {
  const loaded = loadProtoFile('peer.proto')[FORWARD_SERVICE];
  assert(loaded !== undefined && 'Execute' in loaded, `${FORWARD_SERVICE} is in peer.proto`);
  const safe: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(loaded as grpc.ServiceDefinition)) {
    const inner = m.requestDeserialize;
    safe[name] = {
      ...m,
      requestDeserialize: (buf: Buffer) => {
        try {
          return { ok: true, value: inner(buf) };
        } catch {
          return { ok: false };
        }
      },
    };
  }
  return safe as grpc.ServiceDefinition;
}
