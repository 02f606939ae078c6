// Public entry point of the raftq package: `import { ... } from 'raftq'`.
export type * from './raft/types.js';
export * from './client/index.js';
