// Sends Raft messages to peers, one-way (see peer.proto): send() never blocks and never throws. Per
// peer, one long-lived stream carries the messages in send order: on plaintext links the raw TCP
// stream (peer-raw-link.ts; grpc-js and HTTP/2 cost as much CPU per message as the rest of the node's
// work: bench/RESULTS.md), on TLS links and to peers without it the gRPC `Stream` call on the peer's
// channel. Messages not yet handed to the connection count as in
// flight, bounded by count and bytes per peer; beyond the bound a message is dropped and counted
// (Raft retransmits). A write pending longer than the deadline ends the stream (its messages count
// as failed) and the next message opens a new one; channels reconnect with back-off and keepalive
// pings find dead connections, so a slow, dead or partitioned peer only ever costs its own bounded
// slots (docs/faults.md P13). Snapshots stream one call each (InstallSnapshot).
import * as grpc from '@grpc/grpc-js';
import { guardConnecting } from '../client/channel-guard.js';
import { assert } from '../protocol/assert.js';
import { MessageType } from '../raft/types.js';
import type { Message, NodeId } from '../raft/types.js';
import { peerMac, type PeerAuth } from './peer-auth.js';
import { encodeMessage, headerOf, type PeerHeader } from './peer-codec.js';
import { RawStream } from './peer-raw-link.js';
import { REQUEST_OVERHEAD_BYTES, snapshotFrames } from './peer-snapshot-frames.js';
import { PEER_SERVICE } from './peer-server.js';
import { loadProtoFile } from './proto.js';

export interface PeerTransportOptions {
  selfId: NodeId;
  /** How this node dials each peer: id -> host:port (possibly a proxy; docs/design.md §5). */
  peers: ReadonlyMap<NodeId, string>;
  /** The cluster secret: every request carries its MAC (peer-auth.ts). Without it, no MAC is sent. */
  auth?: PeerAuth | null;
  /** How long a message may wait to be handed to the connection before its stream is ended. */
  deadlineMs?: number;
  /** Deadline of one InstallSnapshot stream (one Snapshot message). */
  snapshotDeadlineMs?: number;
  /** Messages in flight (written, not yet handed to the connection) per peer. */
  inflightCountMax?: number;
  /** Encoded bytes in flight per peer (one message larger than this still goes alone). */
  inflightBytesMax?: number;
  /** A single encoded message above this is dropped (the peer's server would refuse it). */
  messageBytesMax?: number;
  /** Snapshot messages waiting per peer (they stream one at a time, in order). */
  snapshotQueueCountMax?: number;
  snapshotQueueBytesMax?: number;
  /** Chunk bytes per InstallSnapshot frame. */
  snapshotFrameBytes?: number;
  reconnectBackoffInitialMs?: number;
  reconnectBackoffMaxMs?: number;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** A channel CONNECTING this long is replaced (grpc-js has no connect deadline: channel-guard.ts). */
  connectTimeoutMs?: number;
  /**
   * A peer turned reachable (a call succeeded) or unreachable (a call failed; `reason` says why, e.g.
   * the gRPC status and its details); transitions only.
   */
  onPeerStatus?: (peer: NodeId, reachable: boolean, reason?: string) => void;
  /** Outcome of each Snapshot message (etcd's ReportSnapshot): on failure the core should retry. */
  onSnapshotSent?: (msg: Message, ok: boolean) => void;
  /** Mutual TLS to each peer (src/rpc/tls.ts peerChannelCredentials); default plaintext. */
  credentials?: (peer: NodeId) => grpc.ChannelCredentials;
  /**
   * Plaintext links send messages on the raw TCP stream (peer-frames.ts) instead of the gRPC Stream
   * method, falling back to gRPC for a peer that does not have it; default true. TLS links always use gRPC.
   */
  rawStreams?: boolean;
}

export const PEER_TRANSPORT_DEFAULT_OPTIONS = {
  deadlineMs: 2_500,
  snapshotDeadlineMs: 60_000,
  inflightCountMax: 64,
  inflightBytesMax: 8 * 1024 * 1024,
  messageBytesMax: 16 * 1024 * 1024 - 64 * 1024,
  snapshotQueueCountMax: 64,
  snapshotQueueBytesMax: 256 * 1024 * 1024,
  snapshotFrameBytes: 256 * 1024,
  reconnectBackoffInitialMs: 100,
  reconnectBackoffMaxMs: 2_000,
  keepaliveTimeMs: 10_000,
  keepaliveTimeoutMs: 5_000,
  connectTimeoutMs: 5_000,
} as const;

type Settings = { [K in keyof typeof PEER_TRANSPORT_DEFAULT_OPTIONS]: number } & Pick<
  PeerTransportOptions,
  'onPeerStatus' | 'onSnapshotSent' | 'auth' | 'credentials'
> & { rawStreams: boolean };

/** Which stream carries a link's messages: the raw TCP stream (peer-frames.ts) or the gRPC Stream method. */
export type StreamKind = 'raw' | 'grpc';

export type DropReason = 'inflight' | 'too-large' | 'unknown-peer' | 'closed' | 'encode' | 'snapshot-queue';

export interface PeerCounters {
  /** Calls the peer acknowledged. */
  sentCount: number;
  sentBytes: number;
  /** Calls that ended in an error (deadline, unavailable, refused). */
  failedCount: number;
  /** Messages never sent (see droppedByReason). */
  droppedCount: number;
}

export interface PeerLinkMetrics extends PeerCounters {
  address: string;
  inflightCount: number;
  inflightBytes: number;
  snapshotQueueCount: number;
  /** null until the first call ends. */
  reachable: boolean | null;
  /** The kind of the link's latest message stream; null before the first. */
  stream: StreamKind | null;
}

export interface PeerTransportMetrics extends PeerCounters {
  droppedByReason: Record<DropReason, number>;
  peers: Record<NodeId, PeerLinkMetrics>;
}

/** Transport-wide tallies, shared by every link so they survive setPeers(). */
class Tally {
  readonly totals: PeerCounters = { sentCount: 0, sentBytes: 0, failedCount: 0, droppedCount: 0 };
  readonly droppedByReason: Record<DropReason, number> = {
    inflight: 0,
    'too-large': 0,
    'unknown-peer': 0,
    closed: 0,
    encode: 0,
    'snapshot-queue': 0,
  };

  drop(reason: DropReason, link?: PeerLink): void {
    this.totals.droppedCount += 1;
    this.droppedByReason[reason] += 1;
    if (link !== undefined) link.counters.droppedCount += 1;
  }
}

export class PeerTransport {
  private readonly settings: Settings;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly tally = new Tally();
  private closed = false;

  constructor(private readonly options: PeerTransportOptions) {
    this.settings = {
      ...PEER_TRANSPORT_DEFAULT_OPTIONS,
      ...withoutUndefined(options),
      rawStreams: options.rawStreams ?? true,
    };
    for (const key of Object.keys(PEER_TRANSPORT_DEFAULT_OPTIONS) as (keyof typeof PEER_TRANSPORT_DEFAULT_OPTIONS)[]) {
      const value = this.settings[key];
      if (!Number.isSafeInteger(value) || value <= 0)
        throw new RangeError(`PeerTransport: ${key} must be a positive integer`);
    }
    this.setPeers(options.peers);
  }

  /** Queues messages for their peers and returns at once; never throws. */
  send(msgs: readonly Message[]): void {
    for (const msg of msgs) {
      if (this.closed) {
        this.tally.drop('closed');
        continue;
      }
      const link = this.links.get(msg.to);
      if (link === undefined) this.tally.drop('unknown-peer');
      else link.send(msg);
    }
  }

  /** Replaces the peer set: removed or re-addressed peers' channels close (their calls are cancelled). */
  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    if (this.closed) return;
    for (const [id, link] of this.links) {
      if (peers.get(id) !== link.address) {
        link.close();
        this.links.delete(id);
      }
    }
    for (const [id, address] of peers) {
      if (id === this.options.selfId || this.links.has(id)) continue;
      this.links.set(id, new PeerLink(id, address, this.settings, this.tally));
    }
  }

  metrics(): PeerTransportMetrics {
    const peers: Record<NodeId, PeerLinkMetrics> = {};
    for (const [id, link] of this.links) peers[id] = link.metrics();
    return { ...this.tally.totals, droppedByReason: { ...this.tally.droppedByReason }, peers };
  }

  /** Cancels every call and closes every channel; later sends are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }
}

interface PeerMethodDefinition {
  path: string;
  requestSerialize: (value: object) => Buffer;
  responseDeserialize: (bytes: Buffer) => object;
}

let peerMethods: Record<string, PeerMethodDefinition> | undefined;

function methodDefinition(name: string): PeerMethodDefinition {
  peerMethods ??= loadProtoFile('peer.proto')[PEER_SERVICE] as unknown as Record<string, PeerMethodDefinition>;
  const method = peerMethods[name];
  assert(method !== undefined, `${PEER_SERVICE}/${name} is in peer.proto`);
  return method;
}

interface PendingWrite {
  size: number;
  at: number;
  settled: boolean;
}

interface OpenStream {
  kind: StreamKind;
  /** Hands one message to the connection. */
  write: (header: PeerHeader, bytes: Uint8Array, mac: Buffer | undefined) => void;
  cancel: () => void;
  /** Requests of this stream the peer acknowledged. */
  acked: number;
}

/** How long a link keeps to gRPC after the peer's port answered the raw stream with something else. */
const RAW_UNSUPPORTED_RETRY_MS = 60_000;

class PeerLink {
  readonly counters: PeerCounters = { sentCount: 0, sentBytes: 0, failedCount: 0, droppedCount: 0 };
  private client: grpc.Client;
  private readonly calls = new Set<
    grpc.ClientWritableStream<object> | grpc.ClientDuplexStream<object, { received?: unknown }>
  >();
  private readonly raws = new Set<RawStream>();
  private inflightCount = 0;
  private inflightBytes = 0;
  private readonly snapshotQueue: Message[] = [];
  private snapshotQueueBytes = 0;
  private streaming = false;
  private stream: OpenStream | null = null;
  /** The kind of the last stream opened (metrics). */
  private streamKind: StreamKind | null = null;
  /** Raw connections refused or broken before their handshake back off like a gRPC channel's reconnects. */
  private rawBackoffMs = 0;
  private rawRetryAt = 0;
  private rawUnsupportedUntil = 0;
  /** Writes on the current stream not yet handed to the connection, oldest first. */
  private readonly pending: PendingWrite[] = [];
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  private reachable: boolean | null = null;
  private closed = false;

  constructor(
    readonly id: NodeId,
    readonly address: string,
    private readonly settings: Settings,
    private readonly tally: Tally,
  ) {
    this.client = this.newClient();
  }

  /**
   * The gRPC channel to the peer (snapshots; messages where the raw stream is not used), replaced when
   * stuck connecting: its calls fail with it (Raft retransmits; a failed snapshot is retried).
   */
  private newClient(): grpc.Client {
    const s = this.settings;
    const client = new grpc.Client(this.address, s.credentials?.(this.id) ?? grpc.credentials.createInsecure(), {
      // TLS: the name asked for (SNI) is the member id its certificate must carry, not the address.
      ...(s.credentials ? { 'grpc.ssl_target_name_override': this.id } : {}),
      // A private connection per peer: never shared with another transport in this process.
      'grpc.use_local_subchannel_pool': 1,
      'grpc.initial_reconnect_backoff_ms': s.reconnectBackoffInitialMs,
      'grpc.max_reconnect_backoff_ms': s.reconnectBackoffMaxMs,
      'grpc.keepalive_time_ms': s.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': s.keepaliveTimeoutMs,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.max_send_message_length': s.messageBytesMax + REQUEST_OVERHEAD_BYTES,
    });
    guardConnecting(client, s.connectTimeoutMs, () => {
      if (this.closed) return;
      this.client = this.newClient();
      client.close();
    });
    return client;
  }

  send(msg: Message): void {
    if (this.closed) return this.tally.drop('closed', this);
    if (msg.type === MessageType.Snapshot) return this.enqueueSnapshot(msg);
    let bytes: Uint8Array;
    try {
      bytes = encodeMessage(msg);
    } catch {
      return this.tally.drop('encode', this);
    }
    const size = bytes.byteLength + REQUEST_OVERHEAD_BYTES;
    if (bytes.byteLength > this.settings.messageBytesMax) return this.tally.drop('too-large', this);
    // Heartbeats, votes and responses are small and keep leadership alive: they get headroom above
    // the bound that paces bulk appends, so a follower slow to acknowledge a burst of appends does not
    // also lose its heartbeats and start an election.
    const bulk = msg.type === MessageType.Append && (msg.entries?.length ?? 0) > 0;
    const countMax = bulk ? this.settings.inflightCountMax : this.settings.inflightCountMax * 2;
    const full =
      this.inflightCount >= countMax ||
      (bulk && this.inflightCount > 0 && this.inflightBytes + size > this.settings.inflightBytesMax);
    if (full) return this.tally.drop('inflight', this);
    this.write(msg, bytes, size);
  }

  /** Writes one message on the peer's stream (opened on demand); settled when handed to the connection. */
  private write(msg: Message, bytes: Uint8Array, size: number): void {
    if (this.stream === null && this.rawWanted() && Date.now() < this.rawRetryAt) {
      // The peer refused or dropped the last connection attempt: fail fast until the back-off ends.
      this.counters.failedCount += 1;
      this.tally.totals.failedCount += 1;
      return;
    }
    const stream = this.stream ?? this.openStream();
    const w: PendingWrite = { size, at: Date.now(), settled: false };
    this.pending.push(w);
    this.inflightCount += 1;
    this.inflightBytes += size;
    const header = headerOf(msg);
    const auth = this.settings.auth;
    stream.write(header, bytes, auth ? peerMac(auth, header, bytes) : undefined);
    if (this.pending.length === 1) this.armWatchdog(stream);
  }

  /** The peer took `received` requests of this stream so far (cumulative). */
  private acked(stream: OpenStream, received: number): void {
    if (this.stream !== stream || !Number.isSafeInteger(received)) return;
    while (stream.acked < received && this.pending.length > 0) {
      const w = this.pending[0] as PendingWrite;
      this.settle(w);
      stream.acked += 1;
      this.outcome(null, w.size);
    }
    if (this.watchdog !== null && this.pending.length === 0) {
      clearTimeout(this.watchdog);
      this.watchdog = null;
    }
  }

  /** Plaintext links use the raw stream unless the peer showed it does not have it (TLS: gRPC only). */
  private rawWanted(): boolean {
    return (
      this.settings.rawStreams && this.settings.credentials === undefined && Date.now() >= this.rawUnsupportedUntil
    );
  }

  private openStream(): OpenStream {
    const stream = this.rawWanted() ? this.openRaw() : this.openGrpc();
    this.stream = stream;
    this.streamKind = stream.kind;
    return stream;
  }

  private openRaw(): OpenStream {
    const raw = new RawStream(this.address, this.settings.keepaliveTimeMs, {
      acked: (received) => {
        this.rawBackoffMs = 0;
        this.acked(stream, received);
      },
      ended: (err, how) => {
        if (how.unsupported) this.rawUnsupportedUntil = Date.now() + RAW_UNSUPPORTED_RETRY_MS;
        else if (!how.handshaken && !how.cancelled) {
          const s = this.settings;
          this.rawBackoffMs = Math.min(
            s.reconnectBackoffMaxMs,
            Math.max(s.reconnectBackoffInitialMs, this.rawBackoffMs * 2),
          );
          this.rawRetryAt = Date.now() + this.rawBackoffMs;
        }
        this.raws.delete(raw);
        this.streamEnded(stream, err);
      },
    });
    const stream: OpenStream = {
      kind: 'raw',
      write: (_header, bytes, mac) => raw.write(bytes, mac),
      cancel: () => raw.cancel(),
      acked: 0,
    };
    this.raws.add(raw);
    return stream;
  }

  private openGrpc(): OpenStream {
    const method = methodDefinition('Stream');
    const call = this.client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
    const stream: OpenStream = {
      kind: 'grpc',
      write: (header, message, mac) => call.write({ header, message, ...(mac ? { mac } : {}) }),
      cancel: () => call.cancel(),
      acked: 0,
    };
    call.on('data', (ack: { received?: unknown }) => this.acked(stream, Number(ack.received)));
    const ended = (err: Error): void => {
      this.calls.delete(call);
      this.streamEnded(stream, err);
    };
    call.on('error', ended);
    call.on('end', () => ended(new Error('stream ended by the peer')));
    this.calls.add(call);
    return stream;
  }

  /** The stream is gone: what it had not handed over is lost (Raft retransmits); the next send reopens. */
  private streamEnded(stream: OpenStream, err: Error | grpc.ServiceError): void {
    if (this.stream !== stream) return;
    this.stream = null;
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.watchdog = null;
    const lost = this.pending.splice(0);
    for (const w of lost) this.settle(w, false);
    this.counters.failedCount += lost.length;
    this.tally.totals.failedCount += lost.length;
    this.outcome(err as grpc.ServiceError, 0, false);
  }

  private settle(w: PendingWrite, shift = true): void {
    w.settled = true;
    if (shift) {
      const head = this.pending.shift();
      assert(head === w, 'stream writes are handed over in order');
    }
    this.inflightCount -= 1;
    this.inflightBytes -= w.size;
    assert(this.inflightCount >= 0 && this.inflightBytes >= 0, 'in-flight accounting never goes negative');
  }

  /** Ends the stream once its oldest write has waited past the deadline (a hung or paused peer). */
  private armWatchdog(stream: OpenStream): void {
    if (this.watchdog !== null) return;
    const oldest = this.pending[0];
    if (oldest === undefined) return;
    const wait = Math.max(0, oldest.at + this.settings.deadlineMs - Date.now());
    this.watchdog = setTimeout(() => {
      this.watchdog = null;
      if (this.stream !== stream || this.closed) return;
      const head = this.pending[0];
      if (head !== undefined && Date.now() - head.at >= this.settings.deadlineMs) {
        stream.cancel();
        this.streamEnded(stream, new Error('peer did not take messages within the deadline'));
      } else this.armWatchdog(stream);
    }, wait);
    this.watchdog.unref?.();
  }

  private outcome(err: grpc.ServiceError | null, size: number, countFailure = true): void {
    if (this.closed) return;
    if (err === null) {
      this.counters.sentCount += 1;
      this.counters.sentBytes += size;
      this.tally.totals.sentCount += 1;
      this.tally.totals.sentBytes += size;
    } else if (countFailure) {
      this.counters.failedCount += 1;
      this.tally.totals.failedCount += 1;
    }
    const reachable = err === null;
    if (this.reachable !== reachable) {
      this.reachable = reachable;
      if (err === null) this.settings.onPeerStatus?.(this.id, true);
      else this.settings.onPeerStatus?.(this.id, false, err.details || err.message);
    }
  }

  private enqueueSnapshot(msg: Message): void {
    const size = msg.snapshot?.chunk.byteLength ?? 0;
    const full =
      this.snapshotQueue.length >= this.settings.snapshotQueueCountMax ||
      (this.snapshotQueue.length > 0 && this.snapshotQueueBytes + size > this.settings.snapshotQueueBytesMax);
    if (full) return this.tally.drop('snapshot-queue', this);
    this.snapshotQueue.push(msg);
    this.snapshotQueueBytes += size;
    this.pumpSnapshots();
  }

  /** Streams queued Snapshot messages one at a time, in order. */
  private pumpSnapshots(): void {
    if (this.streaming || this.closed) return;
    const msg = this.snapshotQueue.shift();
    if (msg === undefined) return;
    const size = msg.snapshot?.chunk.byteLength ?? 0;
    this.snapshotQueueBytes -= size;
    this.streaming = true;
    void this.streamSnapshot(msg).then((ok) => {
      this.streaming = false;
      if (this.closed) return;
      // The queued chunks belong to a transfer that just broke: the core restarts it when told.
      if (!ok) this.clearSnapshotQueue();
      this.settings.onSnapshotSent?.(msg, ok);
      this.pumpSnapshots();
    });
  }

  private clearSnapshotQueue(): void {
    for (const queued of this.snapshotQueue.splice(0)) {
      this.tally.drop('snapshot-queue', this);
      this.settings.onSnapshotSent?.(queued, false);
    }
    this.snapshotQueueBytes = 0;
  }

  private streamSnapshot(msg: Message): Promise<boolean> {
    const method = methodDefinition('InstallSnapshot');
    let frames: Iterator<object>;
    let size: number;
    try {
      ({ frames, size } = snapshotFrames(msg, this.settings.snapshotFrameBytes, this.settings.auth ?? null));
    } catch {
      this.tally.drop('encode', this);
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      let ended = false;
      const call = this.client.makeClientStreamRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        { deadline: Date.now() + this.settings.snapshotDeadlineMs },
        (err) => {
          ended = true;
          this.calls.delete(call);
          this.outcome(err ?? null, size);
          resolve(err === null || err === undefined);
        },
      );
      this.calls.add(call);
      const pump = (): void => {
        while (!ended) {
          const next = frames.next();
          if (next.done === true) {
            call.end();
            return;
          }
          // Respect the stream's buffer: wait for 'drain' instead of buffering the whole snapshot.
          if (!call.write(next.value)) {
            call.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  }

  metrics(): PeerLinkMetrics {
    return {
      ...this.counters,
      address: this.address,
      inflightCount: this.inflightCount,
      inflightBytes: this.inflightBytes,
      snapshotQueueCount: this.snapshotQueue.length,
      reachable: this.reachable,
      stream: this.streamKind,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    for (const call of this.calls) call.cancel();
    this.calls.clear();
    for (const raw of this.raws) raw.cancel();
    this.raws.clear();
    this.client.close();
  }
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
