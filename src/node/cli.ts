// The raftq command line (commander). Each subcommand lives in its own module.
import { Command, CommanderError } from 'commander';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('raftq')
    .description('raftq: a replicated task-queue broker')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program
    .command('demo')
    .description('start a local 3-node cluster, run producers and workers, kill the leader, check nothing is lost')
    .action(() => {
      process.stdout.write(
        'raftq demo: the broker node is not built yet; the Raft core and state machine are in progress.\n',
      );
    });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Usage errors exit 2, help and version exit 0.
      return err.exitCode === 0 ? 0 : 2;
    }
    throw err;
  }
  return 0;
}
