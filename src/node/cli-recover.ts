// `raftq recover --force-new-cluster --data-dir DIR --id ID --confirm-data-loss`: the last-resort
// recovery of recover.ts, run on a stopped survivor when a majority of the voters is lost for good.
import { Command } from 'commander';
import { cliOutput, type SetCode } from './cli-common.js';
import { createLogger } from './logger.js';
import { forceNewCluster, type RecoverReport } from './recover.js';

interface RecoverOpts {
  forceNewCluster?: boolean;
  dataDir: string;
  id: string;
  confirmDataLoss?: boolean;
  json?: boolean;
  dryRun?: boolean;
}

class RecoverUsageError extends Error {}

const WHAT_MAY_BE_LOST =
  'writes the lost members committed that never reached this node are lost for good, and so are the lost members themselves (add new ones back with raftq members / --join)';

function summary(r: RecoverReport, dataDir: string): string {
  const extra = r.lastIndex - r.knownCommit;
  return [
    `recovered ${r.node} (cluster ${r.clusterId}) as the only voter of a new configuration.`,
    `kept its whole log up to index ${r.lastIndex} (term ${r.lastTerm}); it knew entries up to ${r.knownCommit} were committed, the ${extra} above become committed when it starts.`,
    `removed members: ${r.removed.length > 0 ? r.removed.join(', ') : 'none'}; marker entry at index ${r.markerIndex} (term ${r.markerTerm}).`,
    `may be lost: ${WHAT_MAY_BE_LOST}.`,
    ...(r.recoveryFloor === null
      ? []
      : [
          `warning: this node had lost storage it had promised (up to index ${r.recoveryFloor.index}): a survivor with a longer log would have kept more.`,
        ]),
    `next: start it with --peers naming only itself (raftq start --id ${r.node} --cluster-id ${r.clusterId} --data-dir ${dataDir} --peers ${r.node}=HOST:PORT …), then add members back one at a time.`,
    '',
  ].join('\n');
}

function dryRunSummary(r: RecoverReport): string {
  return (
    `dry run, nothing written: ${r.node} (cluster ${r.clusterId}) holds its log up to index ${r.lastIndex}, term ${r.lastTerm} (commit known: ${r.knownCommit}); ` +
    `recover would remove ${r.removed.length > 0 ? r.removed.join(', ') : 'no member'}. ` +
    'Recover the survivor with the highest last term, then the highest last index.\n'
  );
}

function recoverCommand(setCode: SetCode): Command {
  return new Command('recover')
    .description(
      'LAST RESORT after losing a majority for good: make a stopped survivor the only voter (may lose acknowledged writes)',
    )
    .option('--force-new-cluster', 'rewrite the membership to this node alone (the only recovery there is)')
    .requiredOption('--data-dir <dir>', "the stopped survivor's data dir (pick the one with the highest last index)")
    .requiredOption('--id <id>', "the survivor's member id")
    .option('--confirm-data-loss', `confirm: ${WHAT_MAY_BE_LOST}`)
    .option(
      '--dry-run',
      "only print the survivor's last log index and term and what would be done (compare survivors with it)",
    )
    .option('--json', 'print what was done as JSON')
    .action(async (o: RecoverOpts) => {
      try {
        if (o.forceNewCluster !== true)
          throw new RecoverUsageError('name the recovery: --force-new-cluster (it is the only one)');
        if (o.dryRun === true) {
          const r = await forceNewCluster({ dataDir: o.dataDir, id: o.id, dryRun: true });
          cliOutput.out(o.json ? `${JSON.stringify(r)}\n` : dryRunSummary(r));
          return setCode(0);
        }
        if (o.confirmDataLoss !== true)
          throw new RecoverUsageError(
            `--force-new-cluster needs --confirm-data-loss: ${WHAT_MAY_BE_LOST}. Use it only when a majority is gone for good; never while those members may come back`,
          );
        const r = await forceNewCluster({ dataDir: o.dataDir, id: o.id });
        // The structured log line: operators' log pipelines see the forced recovery too.
        createLogger({ level: 'info', nodeId: o.id }).warn(
          { ...r, dataDir: o.dataDir },
          'force-new-cluster: this node is now the only voter; writes the lost members committed without it are lost',
        );
        cliOutput.out(o.json ? `${JSON.stringify(r)}\n` : summary(r, o.dataDir));
        setCode(0);
      } catch (e) {
        cliOutput.err(`raftq: recover: ${e instanceof Error ? e.message : String(e)}\n`);
        setCode(e instanceof RecoverUsageError ? 2 : 1);
      }
    });
}

/** `raftq recover`, for src/node/cli.ts to register. */
export function recoverCommands(setCode: SetCode): Command[] {
  return [recoverCommand(setCode)];
}
