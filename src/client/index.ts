// The raftq SDK: `import { Client } from 'raftq'`. An explicit list: what is here is the public API.
export { Client, type ClientOptions, type CallOptions, type CommandOptions, type ReadConsistency } from './client.js';
export {
  Queue,
  type EnqueueOptions,
  type EnqueueResult,
  type Task,
  type ListOptions,
  type Page,
  type EventStream,
  type QueueSettingsPatch,
} from './queue.js';
export { Worker, type WorkerOptions, type WorkerTask, type TaskContext, type Handler } from './worker.js';
export { msgpackCodec, type Codec } from './codec.js';
export { systemClock, type Clock, type Timer } from './clock.js';
export {
  TransportError,
  type Transport,
  type Method,
  type StreamMethod,
  type StreamHandlers,
  type Message as TransportMessage,
} from './transport.js';
export { GrpcTransport, type GrpcTransportOptions } from './grpc-transport.js';
export { CoalescingTransport, type CoalescingOptions, type CoalescingStats } from './coalesce.js';
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
  NonRetryableError,
  TaskFailedError,
  errorFromDetail,
  raftqError,
} from './errors.js';
export type { TaskEvent, TaskState, QueueStats, QueueSettings, TaskView, LeasedTask } from '../protocol/commands.js';
export type { ErrorCode, ErrorDetail } from '../protocol/errors.js';
export type { AnswerOf, ClientCommandType } from '../protocol/wire.js';
