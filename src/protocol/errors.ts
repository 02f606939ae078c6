// The one error table of docs/design.md §5: stable codes, the gRPC status that carries them, whether the
// command may have been applied, and what the SDK does about it.

export const ErrorCode = {
  NotLeader: 'NOT_LEADER',
  Unavailable: 'UNAVAILABLE',
  LeaseLost: 'LEASE_LOST',
  FailedPrecondition: 'FAILED_PRECONDITION',
  NotFound: 'NOT_FOUND',
  AlreadyExists: 'ALREADY_EXISTS',
  InvalidArgument: 'INVALID_ARGUMENT',
  ResourceExhausted: 'RESOURCE_EXHAUSTED',
  SessionExpired: 'SESSION_EXPIRED',
  Unauthenticated: 'UNAUTHENTICATED',
  PermissionDenied: 'PERMISSION_DENIED',
  DeadlineExceeded: 'DEADLINE_EXCEEDED',
  Internal: 'INTERNAL',
  Cancelled: 'CANCELLED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** gRPC status codes (numeric values of grpc's `status` enum; this leaf imports no gRPC). */
export const GrpcStatus = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatusName = keyof typeof GrpcStatus;

/** 'not_applied': the command had no effect. 'unknown': it may or may not have been applied. */
export type Outcome = 'not_applied' | 'unknown';

/**
 * What the SDK does: 'leader' retries at the hinted leader; 'same_seq' retries with the same session
 * sequence number (so it is applied at most once); 'after_delay' waits retryAfterMs; 'new_session'
 * opens a new session and retries only idempotent commands; 'no' surfaces the error.
 */
export type RetryPolicy = 'leader' | 'same_seq' | 'after_delay' | 'new_session' | 'no';

export interface ErrorSpec {
  readonly grpc: GrpcStatusName;
  readonly grpcCode: number;
  readonly outcome: Outcome;
  readonly retry: RetryPolicy;
  /** Extra fields the error detail carries (docs/design.md §5). */
  readonly fields: readonly string[];
}

function spec(grpc: GrpcStatusName, outcome: Outcome, retry: RetryPolicy, fields: readonly string[] = []): ErrorSpec {
  return { grpc, grpcCode: GrpcStatus[grpc], outcome, retry, fields };
}

export const ERROR_TABLE: Readonly<Record<ErrorCode, ErrorSpec>> = {
  NOT_LEADER: spec('UNAVAILABLE', 'not_applied', 'leader', ['leaderHint']),
  UNAVAILABLE: spec('UNAVAILABLE', 'unknown', 'same_seq', ['leaderHint']),
  LEASE_LOST: spec('FAILED_PRECONDITION', 'not_applied', 'no'),
  FAILED_PRECONDITION: spec('FAILED_PRECONDITION', 'not_applied', 'no', ['reason']),
  NOT_FOUND: spec('NOT_FOUND', 'not_applied', 'no'),
  ALREADY_EXISTS: spec('ALREADY_EXISTS', 'not_applied', 'no'),
  INVALID_ARGUMENT: spec('INVALID_ARGUMENT', 'not_applied', 'no', ['field']),
  RESOURCE_EXHAUSTED: spec('RESOURCE_EXHAUSTED', 'not_applied', 'after_delay', ['limit', 'retryAfterMs']),
  SESSION_EXPIRED: spec('FAILED_PRECONDITION', 'not_applied', 'new_session'),
  UNAUTHENTICATED: spec('UNAUTHENTICATED', 'not_applied', 'no'),
  PERMISSION_DENIED: spec('PERMISSION_DENIED', 'not_applied', 'no'),
  DEADLINE_EXCEEDED: spec('DEADLINE_EXCEEDED', 'unknown', 'same_seq'),
  INTERNAL: spec('INTERNAL', 'unknown', 'no'),
  // An extend of a task whose cancel was requested (docs/workflows.md): stop, then ack or nack.
  CANCELLED: spec('FAILED_PRECONDITION', 'not_applied', 'no', ['reason']),
};

/** The error detail carried on the wire and inside answers. */
export interface ErrorDetail {
  code: ErrorCode;
  message: string;
  /** INVALID_ARGUMENT: the offending field path, e.g. `tasks[3].payload`. */
  field?: string;
  /** FAILED_PRECONDITION: a stable machine-readable reason, e.g. `task_leased`. */
  reason?: string;
  /** RESOURCE_EXHAUSTED: which limit, and when to retry. */
  limit?: string;
  retryAfterMs?: number;
  leaderHint?: string;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_TABLE, value);
}

export function errorSpec(code: ErrorCode): ErrorSpec {
  return ERROR_TABLE[code];
}

/** Structural check for an error detail received from the wire. */
export function isErrorDetail(value: unknown): value is ErrorDetail {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return isErrorCode(v['code']) && typeof v['message'] === 'string';
}
