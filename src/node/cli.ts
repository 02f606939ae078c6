// The raftq command line (commander). Usage errors exit 2 with one line; failures exit 1.
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, readConfigFile, resolveConfig, type RawSettings } from './config.js';
import { clientCommands } from './cli-client.js';
import { devCommand, DevUsageError } from './cli-dev.js';
import { completionCommand, packageVersion } from './cli-meta.js';
import { tokensCommand } from './cli-tokens.js';
import { backupCommands } from './cli-backup.js';
import { recoverCommands } from './cli-recover.js';
import { exitWithParent } from './local-cluster.js';
import { certsCommand, withLimitFlags, withTlsFlags } from './cli-certs.js';

export class UsageError extends Error {}

function startCommand(): Command {
  return withLimitFlags(withTlsFlags(new Command('start')))
    .description('start one broker node')
    .option('--config <file>', 'JSON config file with the same settings (camelCase keys)')
    .option('--id <id>', 'this node id (must be one of --peers)')
    .option('--listen <host:port>', 'client gRPC address')
    .option('--peer-listen <host:port>', 'Raft peer gRPC address')
    .option('--peers <list>', 'all members: id=host:port,… (how this node dials their peer ports)')
    .option('--join-as <role>', 'with --join: voter (promoted once caught up, the default) or learner')
    .option(
      '--join <list>',
      'admin HTTP addresses of a running cluster: join it as a new member (then --peers is optional)',
    )
    .option('--data-dir <dir>', 'data directory')
    .option('--http <host:port>', 'admin HTTP address (healthz, readyz, metrics, status)')
    .option(
      '--advertise <list>',
      'client address reported to clients (defaults to --listen), and per client network: host:port,name=host:port,…',
    )
    .option('--cluster-id <id>', 'cluster id, checked against the data dir')
    .option('--cluster-secret-file <file>', 'file holding the cluster secret: peers authenticate every message with it')
    .option(
      '--cluster-secret-accept-file <file>',
      'a second secret accepted (never sent) while rotating; SIGHUP re-reads both',
    )
    .addOption(
      new Option('--log-level <level>', 'log level').choices([
        'fatal',
        'error',
        'warn',
        'info',
        'debug',
        'trace',
        'silent',
      ]),
    )
    .option(
      '--heartbeat-ms <ms>',
      'one Raft tick (heartbeats every 5 ticks, fewer under 10 election ticks; default 50)',
    )
    .option('--election-ticks <n>', 'election timeout in ticks')
    .option('--snapshot-every-entries <n>', 'entries between snapshots (default 10000)')
    .option(
      '--log-memory-mib <n>',
      "MiB of applied log entries' data kept in memory (default 16; older: read from disk)",
    )
    .addOption(new Option('--snapshot-every <n>', 'deprecated: --snapshot-every-entries').hideHelp())
    .action(async (opts: RawSettings & { config?: string }) => {
      const file = opts.config ? readConfigFile(opts.config) : {};
      const { config: _c, ...flags } = opts;
      const config = resolveConfig(flags, process.env, file);
      const { runNode } = await import('./server.js');
      exitWithParent();
      await runNode(config);
    });
}

function demoCommand(setCode: (c: number) => void): Command {
  return new Command('demo')
    .description('start a local 3-node cluster, run producers and workers, kill the leader, check nothing is lost')
    .option('--tls', 'TLS on every port (development certificates)')
    .option('--auth', 'client tokens on')
    .action(async (o: { tls?: boolean; auth?: boolean }) => {
      const { runDemo } = await import('./demo.js');
      setCode(await runDemo(o));
    });
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command('raftq')
    .description('raftq: a replicated task-queue broker')
    .version(packageVersion(), '-V, --version', 'print the raftq version')
    .exitOverride()
    .showSuggestionAfterError(false)
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const setCode = (c: number): void => {
    code = c;
  };
  for (const cmd of [
    startCommand(),
    devCommand(setCode),
    demoCommand(setCode),
    ...clientCommands(setCode),
    tokensCommand(setCode),
    ...backupCommands(setCode),
    certsCommand(setCode),
    completionCommand(() => program),
    ...recoverCommands(setCode),
  ]) {
    cmd.exitOverride();
    program.addCommand(cmd);
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof ConfigError || err instanceof UsageError || err instanceof DevUsageError) {
      process.stderr.write(`raftq: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  return code;
}
