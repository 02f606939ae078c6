// The Raft core's public surface (pure: no I/O, clocks or timers).
export * from './types.js';
export { RaftNode } from './node.js';
export type { TransferResult } from './node.js';
export { quorumValue } from './quorum.js';
export type { ChangeRefusal, ChangeResult, MembershipChange } from './membership.js';
export type { NodeStatus, ProgressStatus, RaftStats, Role } from './status.js';
export { makeRaftConfig, validateRaftConfig, defaultRaftLimits } from './config.js';
export type { RaftConfig, RaftFaults } from './config.js';
export { MemoryStorage } from './storage.js';
export { Rng } from './rng.js';
export type { Random } from './rng.js';
