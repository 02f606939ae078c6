// Limits from the SDK side (issue 13): which RESOURCE_EXHAUSTED answers are definite limit
// refusals, and the `keys` read of a queue (usage and limits per limit key).
import type { ErrorDetail } from '../protocol/errors.js';
import type { AsOf, KeyPage, KeyUsage, ReadQuery } from '../protocol/commands.js';
import type { CallOptions, Client, ReadConsistency } from './client.js';
import type { Session } from './session.js';

export type { KeyUsage };

/** A page of key usage and the applied state it was read at (`heldUntilMono` compares with asOf.mono). */
export type KeysPage = KeyPage & { asOf: AsOf };

/**
 * RESOURCE_EXHAUSTED limits that are a node's flow control: they pass, nothing was decided, and the
 * SDK retries them (same seq) after retryAfterMs until the deadline.
 */
const FLOW_CONTROL_LIMITS: ReadonlySet<string> = new Set([
  'pendingCommands',
  'pendingReads',
  'maxUncommittedBytes',
  'sessionOutstandingMax',
]);

/**
 * A refusal by a queue or broker limit (maxLength, maxWaiting, keyMaxWaiting, tasksMax, queuesMax ...):
 * the state machine's answer to that session seq, so definite (not applied). Retrying the same seq
 * would only replay the cached refusal; it surfaces at once unless the caller asks for
 * `retryExhausted`, which retries it as a new command.
 */
export function isLimitRefusal(d: ErrorDetail): boolean {
  return d.code === 'RESOURCE_EXHAUSTED' && d.limit !== undefined && !FLOW_CONTROL_LIMITS.has(d.limit);
}

/** retryExhausted: the refused seq is answered; the retry is a new command on a new seq. */
export function renewSeq(session: Session, seq: number): number {
  session.complete(seq);
  return session.allocate();
}

export interface KeysOptions extends CallOptions {
  /** Start after this key (a page's nextCursor). */
  cursor?: string;
  /** Keys per page (1..1000, default 100). */
  limit?: number;
  consistency?: ReadConsistency;
}

/** One page of a queue's limit keys, sorted by key ('' stands for the tasks without a key). */
export async function readKeys(client: Client, queue: string, options: KeysOptions = {}): Promise<KeysPage> {
  const query: ReadQuery = { type: 'keys', queue };
  if (options.cursor !== undefined) query.cursor = options.cursor;
  if (options.limit !== undefined) query.limit = options.limit;
  return client.read('ListKeys', query, options);
}
