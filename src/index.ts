// Public entry point of the raftq package: `import { ... } from 'raftq'`. An explicit list: what is
// here is the public API — the SDK, no Raft internals, no peer messages.
export {
  Client,
  type ClientOptions,
  type CallOptions,
  type CommandOptions,
  type ReadConsistency,
} from './client/client.js';
export {
  Queue,
  type EnqueueOptions,
  type EnqueueResult,
  type Task,
  type ListOptions,
  type Page,
  type EventStream,
  type QueueSettingsPatch,
  type RedriveResult,
} from './client/queue.js';
export { type Dependency, type DependencyResult, type FlowTree, type FlowResult } from './client/flows.js';
export { Topic, type TopicFilter, type PublishOptions, type PublishedTask } from './client/topics.js';
export type {
  Lease,
  LeaseOptions,
  NackOptions,
  ExtendOptions,
  AckOutcome,
  LeaseRound,
  AckItem,
  ReleaseOptions,
} from './client/queue-leases.js';
export { Worker, type WorkerOptions, type WorkerTask, type TaskContext, type Handler } from './client/worker.js';
export type { BatchContext, BatchHandler, BatchOptions, BatchResult, BatchWorkerOptions } from './client/worker.js';
export { msgpackCodec, type Codec } from './client/codec.js';
export { encryptedCodec, type PayloadEncryption } from './client/encryption.js';
export { systemClock, type Clock, type Timer } from './client/clock.js';
export {
  TransportError,
  type Transport,
  type Method,
  type StreamMethod,
  type StreamHandlers,
  type Message as TransportMessage,
} from './client/transport.js';
export { GrpcTransport, type GrpcTransportOptions, type ClientTls } from './client/grpc-transport.js';
export { CoalescingTransport, type CoalescingOptions, type CoalescingStats } from './client/coalesce.js';
export {
  RaftqError,
  NotLeaderError,
  UnavailableError,
  LeaseLostError,
  FailedPreconditionError,
  NotFoundError,
  AlreadyExistsError,
  InvalidArgumentError,
  ResourceExhaustedError,
  SessionExpiredError,
  UnauthenticatedError,
  PermissionDeniedError,
  DeadlineExceededError,
  InternalError,
  CancelledError,
  NonRetryableError,
  RateLimitedError,
  TaskFailedError,
  errorFromDetail,
  raftqError,
} from './client/errors.js';
export type {
  TaskEvent,
  TaskState,
  QueueStats,
  QueueSettings,
  TaskView,
  LeasedTask,
  DependencyPolicy,
  DependencyView,
} from './protocol/commands.js';
export type { ErrorCode, ErrorDetail } from './protocol/errors.js';
export type { StoryKind, StoryStep } from './protocol/story.js';
export type { AnswerOf, ClientCommandType } from './protocol/wire.js';
export type { KeysPage, KeyUsage, KeysOptions } from './client/limits.js';
export type { DedupSpec, KeyLimits, RateLimit } from './protocol/commands.js';
export {
  Schedules,
  SCHEDULE_HEADER,
  SCHEDULE_SLOT_HEADER,
  SCHEDULE_MANUAL_HEADER,
  type Schedule,
  type ScheduleOptions,
} from './client/schedules.js';
export type { CatchUp } from './protocol/schedules.js';
export { SharedLimits } from './client/shared-limits.js';
export type { SharedKeyLimits, SharedLimitSpec, SharedLimitView } from './protocol/shared-limits.js';
