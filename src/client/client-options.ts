// The Client's options and per-call options (src/client/client.ts), in their own room.
import type { Limits } from '../protocol/limits.js';
import type { Clock } from './clock.js';
import type { CoalescingOptions } from './coalesce.js';
import type { Codec } from './codec.js';
import type { ClientTls } from './grpc-transport.js';
import type { Message, Transport } from './transport.js';

export interface ClientOptions {
  /** Client addresses (host:port) of some or all nodes; the leader is found from there. */
  servers: string[];
  /**
   * Advertised client address -> the address this client reaches that node at, for clients behind a
   * proxy or NAT: leader hints and the members a node's Status lists are translated through it.
   */
  addressMap?: Record<string, string>;
  /**
   * The client network this client is on: nodes started with `--advertise host:port,NAME=host:port`
   * list their address on each network in Status, and hints and members are dialled at their address
   * on this one (nodes without one keep their default address; `addressMap` still applies first).
   */
  network?: string;
  /** Deadline of one SDK call, retries included (default 30 s). */
  timeoutMs?: number;
  /** Session idle timeout asked of the server (default: the server's, 60 s). */
  sessionTimeoutMs?: number;
  /** Payload codec (default msgpackr). Uint8Array payloads always pass through raw. */
  codec?: Codec;
  /** Encoded payloads above this many bytes are gzipped (default 64 KiB). */
  compressAboveBytes?: number;
  /** Calls waiting for a leader at once; beyond, calls fail at once with UNAVAILABLE (default 10 000). */
  pendingCallsMax?: number;
  /** Retry back-off bounds while no leader answers (default 20 ms .. 1 s, jittered). */
  retryMsMin?: number;
  retryMsMax?: number;
  /** @deprecated Renamed `pendingCallsMax` (still accepted, with a DeprecationWarning). */
  maxPendingCalls?: number;
  /** @deprecated Renamed `retryMsMin` (still accepted, with a DeprecationWarning). */
  retryMinMs?: number;
  /** @deprecated Renamed `retryMsMax` (still accepted, with a DeprecationWarning). */
  retryMaxMs?: number;
  /** Limits the SDK validates against before sending (default: the server defaults). */
  limits?: Limits;
  /**
   * Concurrent commands to one node made in the same event-loop turn travel as one Submit call;
   * each keeps its own session seq, deadline, retries and errors (docs/sdk.md). Default true.
   * Applies to the built-in gRPC transport; wrap an injected one in CoalescingTransport yourself.
   */
  coalesce?: boolean | CoalescingOptions;
  /**
   * Single `enqueue` calls to one queue made in the same event-loop turn travel as one enqueue
   * command; each caller still gets its own answer (docs/sdk.md). Default true.
   */
  batchEnqueues?: boolean;
  /** Bearer token for a cluster with auth on (built-in gRPC transport; docs/security.md). */
  token?: string;
  /** TLS: the CA (and a client certificate) of a cluster with TLS on (built-in gRPC transport). */
  tls?: ClientTls;
  /** Injected network (default gRPC) and time (default performance.now / setTimeout). */
  transport?: Transport;
  clock?: Clock;
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** A limit refusal (maxLength, maxWaiting ...) is definite and surfaces at once; true: retry it as a new command after retryAfterMs until the deadline. */
  retryExhausted?: boolean;
}

export interface CommandOptions extends CallOptions {
  /**
   * Safe to re-issue as a new command on a new session after SESSION_EXPIRED (acks, extends, pause,
   * an enqueue with an idempotency key ...). Default false: the error is surfaced.
   */
  idempotent?: boolean;
  /** Extra time the server may hold the call (long-poll leases). */
  holdMs?: number;
  /** Request fields beyond the command's own (e.g. a lease's maxHoldMs). */
  extra?: Message;
  /**
   * Which session carries the command. Long-poll leases use their own ('poll') so that a held
   * request does not pin the main session's floor and fill its answer cache meanwhile.
   */
  lane?: Lane;
}

export type Lane = 'main' | 'poll';
