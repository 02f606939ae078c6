// The shared vocabulary: a leaf that imports nothing of ours (docs/design.md §4).
export * from './errors.js';
export * from './commands.js';
export * from './limits.js';
export * from './codec.js';
export * from './validate.js';
export * from './assert.js';
export * from './proto.js';
export * from './wire.js';
export * from './wire-reads.js';
export * from './wire-values.js';
export * from './schedules.js';
export * from './story.js';
export * from './ids.js';
export * from './shared-limits.js';
