// The raftq SDK's names are the package's: src/index.ts holds their one explicit list.
export * from '../index.js';
