// The Raft core's public surface (pure: no I/O, clocks or timers).
export * from './types.js';
export { RaftNode, quorumValue } from './node.js';
export type {
  ChangeRefusal,
  ChangeResult,
  MembershipChange,
  NodeStatus,
  ProgressStatus,
  RaftStats,
  Role,
  TransferResult,
} from './node.js';
export { makeRaftConfig, validateRaftConfig, defaultRaftLimits } from './config.js';
export type { RaftConfig } from './config.js';
export { MemoryStorage } from './storage.js';
export { Rng } from './rng.js';
export type { Random } from './rng.js';
