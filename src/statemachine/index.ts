// The queue state machine: pure, deterministic, imports only src/protocol (docs/design.md §4).
export { QueueStateMachine, backoffDelay, DEFAULT_MACHINE_LIMITS } from './machine.js';
export type { MachineOptions, MachineCounters, MachineLimits, TaskCount } from './machine.js';
export type { Limits } from '../protocol/index.js';
export { validateCommand, encodeEnvelope, decodeEnvelope } from '../protocol/index.js';
