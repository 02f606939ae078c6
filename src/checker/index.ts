// The history checker: a leaf library (imports nothing else of raftq) used by `raftq demo` and the
// jepsen-like suite. See history.ts for the history format and its clock.
export * from './history.js';
export { indexHistory, pairCalls, parseToken } from './analysis.js';
export type { AttemptCall, Call, EnqueueCall, Grant, HistoryIndex, Outcome, ValueInfo } from './analysis.js';
export {
  checkAgreement,
  checkDuplicated,
  checkExclusive,
  checkGroupOrder,
  checkInfoAtMostOnce,
  checkLost,
  checkNoAckLost,
  checkPhantom,
  checkReadsAgree,
  checkRecovery,
  checkSingleCompletion,
  checkStaleAcksRefused,
} from './checks.js';
export type { CheckOptions, CheckResult } from './checks.js';
export { checkAll, checkJsonLines, checks } from './verdict.js';
export type { CheckAllOptions, CheckName, Minimums, Stats, Verdict, VerdictStatus } from './verdict.js';
export { summary } from './summary.js';
export { faultWindows, timelineSvg } from './timeline.js';
export type { FaultWindow } from './timeline.js';
