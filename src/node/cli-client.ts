// The client subcommands of `raftq` (status, members, enqueue, worker, tasks, queues, dlq, events, top).
// Each talks to the servers of --servers / RAFTQ_SERVERS through the SDK. Usage errors (bad options,
// malformed JSON, a bad server address) print one line and exit 2; failures exit 1. The commands
// live in cli-status / cli-tasks / cli-queues / cli-exec; what they share in cli-common.
import type { Command } from 'commander';
import { untilSignal, type SetCode } from './cli-common.js';
import { workerCommand } from './cli-exec.js';
import { dlqCommand, eventsCommand, queuesCommand } from './cli-queues.js';
import { membersCommand } from './cli-members.js';
import { clusterCommand } from './cli-cluster.js';
import { statusCommand } from './cli-status.js';
import { schedulesCommand } from './cli-schedules.js';
import { enqueueCommand, tasksCommand } from './cli-tasks.js';
import { topCommand } from './cli-top.js';
import { keysCommand } from './cli-keys.js';
import { limitsCommand } from './cli-limits.js';
import { workflowCommands } from './cli-flows.js';

export { ClientUsageError, cliOutput } from './cli-common.js';
export { runChild } from './cli-exec.js';

/**
 * The client subcommands, for `src/node/cli.ts` to register. `setCode` receives the exit code;
 * `stop` (default: SIGINT / SIGTERM) ends the long-running ones.
 */
export function clientCommands(setCode: SetCode, stop: () => Promise<void> = untilSignal): Command[] {
  const cmds = [
    statusCommand(setCode),
    membersCommand(setCode),
    clusterCommand(setCode),
    enqueueCommand(setCode),
    workerCommand(setCode, stop),
    tasksCommand(setCode),
    queuesCommand(setCode),
    dlqCommand(setCode),
    eventsCommand(setCode, stop),
    topCommand(setCode),
    keysCommand(setCode),
    schedulesCommand(setCode),
    ...workflowCommands(setCode),
    limitsCommand(setCode),
  ];
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  cmds.forEach(override);
  return cmds;
}
