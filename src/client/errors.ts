// Typed errors, one class per code of docs/design.md §5's table, so callers can `instanceof` them. The
// detail (field, reason, retryAfterMs, leaderHint ...) rides along unchanged.
import { ERROR_TABLE, isErrorCode, type ErrorCode, type ErrorDetail, type Outcome } from '../protocol/errors.js';

export class RaftqError extends Error {
  readonly code: ErrorCode;
  readonly detail: ErrorDetail;

  constructor(detail: ErrorDetail) {
    super(`${detail.code}: ${detail.message}`);
    this.name = new.target.name;
    this.code = detail.code;
    this.detail = detail;
  }

  /** Whether the command may have been applied ('unknown') or certainly was not. */
  get outcome(): Outcome {
    return ERROR_TABLE[this.code].outcome;
  }

  get field(): string | undefined {
    return this.detail.field;
  }
  get reason(): string | undefined {
    return this.detail.reason;
  }
  get retryAfterMs(): number | undefined {
    return this.detail.retryAfterMs;
  }
  get leaderHint(): string | undefined {
    return this.detail.leaderHint;
  }
}

export class NotLeaderError extends RaftqError {}
export class UnavailableError extends RaftqError {}
export class LeaseLostError extends RaftqError {}
export class FailedPreconditionError extends RaftqError {}
export class NotFoundError extends RaftqError {}
export class AlreadyExistsError extends RaftqError {}
export class InvalidArgumentError extends RaftqError {}
/**
 * A limit refused the call: `.limit` names it (maxLength, maxWaiting, keyMaxWaiting, tasksMax ...),
 * `.retryAfterMs` says when trying again may succeed. A limit refusal is definite (not applied).
 */
export class ResourceExhaustedError extends RaftqError {
  get limit(): string | undefined {
    return this.detail.limit;
  }
}
export class SessionExpiredError extends RaftqError {}
export class UnauthenticatedError extends RaftqError {}
export class PermissionDeniedError extends RaftqError {}
export class DeadlineExceededError extends RaftqError {}
export class InternalError extends RaftqError {}
/** The task's cancel was requested while it ran: a worker's signal fires with this reason. */
export class CancelledError extends RaftqError {}

const CLASSES: Record<ErrorCode, new (d: ErrorDetail) => RaftqError> = {
  NOT_LEADER: NotLeaderError,
  UNAVAILABLE: UnavailableError,
  LEASE_LOST: LeaseLostError,
  FAILED_PRECONDITION: FailedPreconditionError,
  NOT_FOUND: NotFoundError,
  ALREADY_EXISTS: AlreadyExistsError,
  INVALID_ARGUMENT: InvalidArgumentError,
  RESOURCE_EXHAUSTED: ResourceExhaustedError,
  SESSION_EXPIRED: SessionExpiredError,
  UNAUTHENTICATED: UnauthenticatedError,
  PERMISSION_DENIED: PermissionDeniedError,
  DEADLINE_EXCEEDED: DeadlineExceededError,
  INTERNAL: InternalError,
  CANCELLED: CancelledError,
};

/** The typed error for a detail; an unknown code becomes INTERNAL (keeping the message). */
export function errorFromDetail(detail: ErrorDetail): RaftqError {
  const code = isErrorCode(detail.code) ? detail.code : 'INTERNAL';
  return new CLASSES[code]({ ...detail, code });
}

export function raftqError(code: ErrorCode, message: string, extra: Partial<ErrorDetail> = {}): RaftqError {
  return errorFromDetail({ ...extra, code, message });
}

/**
 * Thrown by a worker handler to dead-letter the task now instead of retrying it.
 * `throw new NonRetryableError('bad address')`.
 */
export class NonRetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetryableError';
  }
}

/**
 * Thrown by a worker handler when the downstream it calls rate limits it (an HTTP 429): the task
 * goes back without counting an attempt and its limit key is held back for `retryAfterMs`.
 * `throw new RateLimitedError(30_000)`.
 */
export class RateLimitedError extends Error {
  constructor(
    readonly retryAfterMs: number,
    message = `rate limited for ${retryAfterMs} ms`,
  ) {
    super(message);
    this.name = 'RateLimitedError';
  }
}

/** waitFor: the task ended without completing (dead, cancelled or expired). */
export class TaskFailedError extends Error {
  constructor(
    readonly taskId: string,
    readonly state: string,
    readonly lastError: string | undefined,
    readonly reason: string | undefined,
  ) {
    super(`task ${taskId} ended ${state}${reason ? ` (${reason})` : ''}${lastError ? `: ${lastError}` : ''}`);
    this.name = 'TaskFailedError';
  }
}
