// The follower's side of the ClientForward peer service (peer.proto): one gRPC channel per peer,
// separate from the Raft message stream (client traffic never queues behind appends, and a slow
// forwarded call never delays a heartbeat). Requests carry the peer MAC under the cluster secret;
// replies are checked against it too (the reply MAC is bound to the request's).
import * as grpc from '@grpc/grpc-js';
import { evictWhenStuck } from '../client/channel-guard.js';
import { assert } from '../protocol/assert.js';
import type { NodeId } from '../raft/types.js';
import { peerMac, peerMacValid, type PeerAuth } from './peer-auth.js';
import type { PeerHeader } from './peer-codec.js';
import { loadProtoFile } from './proto.js';

export const FORWARD_SERVICE = 'raftq.peer.v1.ClientForward';

/** Execute and Read: forwarded client calls; Status: a member's own status for another's console; Addresses: its client networks. */
export type ForwardKind = 'Execute' | 'Read' | 'Status' | 'Addresses';

/**
 * Why a forwarded call brought no answer. `refused`: nothing ran, because the leader refused it or
 * (`unsent`) because it was never sent.
 */
export class ForwardError extends Error {
  constructor(
    message: string,
    readonly refused: boolean,
    readonly deadline = false,
    readonly unsent = false,
  ) {
    super(message);
    this.name = 'ForwardError';
  }
}

/** Sends one forwarded body to a peer and resolves with the reply body; rejects with a ForwardError. */
export interface ForwardSender {
  send(kind: ForwardKind, to: NodeId, body: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array>;
  close(): void;
}

export interface ForwardLinkOptions {
  selfId: NodeId;
  /** How this node dials each peer's peer port: id -> host:port (the Raft transport's map). */
  peers: ReadonlyMap<NodeId, string>;
  auth?: PeerAuth | null;
  /** Channel credentials to one peer (default insecure; the peer port's mutual TLS when it has one). */
  credentials?: (peer: NodeId) => grpc.ChannelCredentials;
  /** Largest request or reply (a Submit of large payloads, a page of tasks). */
  messageBytesMax?: number;
}

/** gRPC status codes a leader answers before it runs anything: nothing was applied. */
const REFUSED = new Set<number>([
  grpc.status.UNIMPLEMENTED,
  grpc.status.UNAUTHENTICATED,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.PERMISSION_DENIED,
  grpc.status.FAILED_PRECONDITION,
]);

interface Method {
  path: string;
  requestSerialize: (value: object) => Buffer;
  responseDeserialize: (bytes: Buffer) => object;
}

let methods: Record<string, Method> | undefined;

function method(kind: ForwardKind): Method {
  methods ??= loadProtoFile('peer.proto')[FORWARD_SERVICE] as unknown as Record<string, Method>;
  const m = methods[kind];
  assert(m !== undefined, `${FORWARD_SERVICE}/${kind} is in peer.proto`);
  return m;
}

/** The header of a forwarded request (term and group carry nothing here). */
export function forwardHeader(from: NodeId, to: NodeId, type: string): PeerHeader {
  return { group: 0, term: 0, from, to, type };
}

/** The reply MAC: from the leader, over the reply body and the request's MAC. */
export function replyMac(auth: PeerAuth, from: NodeId, to: NodeId, body: Uint8Array, requestMac: Uint8Array): Buffer {
  return peerMac(auth, forwardHeader(from, to, 'Reply'), body, { chunkBytes: 0, pieces: [requestMac] });
}

/** A forwarding channel CONNECTING this long is replaced (its calls have deadlines of their own). */
const FORWARD_CONNECT_TIMEOUT_MS = 5_000;

export class GrpcForwardLink implements ForwardSender {
  private readonly clients = new Map<NodeId, grpc.Client>();
  private closed = false;

  constructor(private readonly opts: ForwardLinkOptions) {}

  send(kind: ForwardKind, to: NodeId, body: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
    const client = this.client(to);
    if (client === null) return Promise.reject(new ForwardError(`no peer address for ${to}`, true));
    // grpc-js holds a channel whose last connection attempt failed in TRANSIENT_FAILURE until one
    // succeeds, and fails its calls at once without sending them: say so here, so the caller learns
    // that nothing ran (NOT_LEADER, which a client polls soon) rather than an unknown outcome (a dead
    // leader's followers would otherwise make clients back off as from a dead node).
    if (client.getChannel().getConnectivityState(false) === grpc.connectivityState.TRANSIENT_FAILURE)
      return Promise.reject(
        new ForwardError(`${to} unreachable (its last connection attempt failed): not sent`, true, false, true),
      );
    const header = forwardHeader(this.opts.selfId, to, kind);
    const auth = this.opts.auth ?? null;
    const mac = auth ? peerMac(auth, header, body) : null;
    const m = method(kind);
    return new Promise((resolve, reject) => {
      const call = client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        { header, body, ...(mac ? { mac } : {}) },
        { deadline: Date.now() + Math.max(1, timeoutMs) },
        (err, reply?: { body?: unknown; mac?: unknown }) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) return reject(failure(err));
          const out = reply?.body;
          if (!(out instanceof Uint8Array)) return reject(new ForwardError('reply without a body', false));
          if (
            auth &&
            mac &&
            !peerMacValid(auth, forwardHeader(to, this.opts.selfId, 'Reply'), out, reply?.mac, chunk(mac))
          )
            return reject(new ForwardError('reply without a valid MAC under the cluster secret', false));
          resolve(out);
        },
      );
      const onAbort = (): void => call.cancel();
      if (signal?.aborted) call.cancel();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private client(to: NodeId): grpc.Client | null {
    if (this.closed) return null;
    let c = this.clients.get(to);
    if (c !== undefined) return c;
    const address = this.opts.peers.get(to);
    if (address === undefined || to === this.opts.selfId) return null;
    const bytes = this.opts.messageBytesMax ?? 256 * 1024 * 1024;
    c = new grpc.Client(address, this.opts.credentials?.(to) ?? grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2_000,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.max_send_message_length': bytes,
      'grpc.max_receive_message_length': bytes,
    });
    // grpc-js gives a connection attempt no deadline: a channel stuck connecting is closed, the next call redials.
    evictWhenStuck(this.clients, to, c, FORWARD_CONNECT_TIMEOUT_MS);
    this.clients.set(to, c);
    return c;
  }
}

function chunk(requestMac: Uint8Array): { chunkBytes: number; pieces: Uint8Array[] } {
  return { chunkBytes: 0, pieces: [requestMac] };
}

function failure(err: grpc.ServiceError): ForwardError {
  const why = `${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`;
  return new ForwardError(why, REFUSED.has(err.code), err.code === grpc.status.DEADLINE_EXCEEDED);
}
