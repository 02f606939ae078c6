// Runs `raftq` client subcommands in-process against an in-process client service (real gRPC on
// loopback, real state machine), capturing output and the exit code.
import { Command, CommanderError } from 'commander';
import { cliOutput, clientCommands } from '../../../src/node/cli-client.js';
import { ClientServer } from '../../../src/rpc/client-server.js';
import { MachineExecutor } from '../client/machine-executor.js';

export interface Run {
  code: number;
  out: string;
  err: string;
}

export async function startServer(): Promise<{ executor: MachineExecutor; server: ClientServer }> {
  const executor = new MachineExecutor();
  const server = await ClientServer.start({ address: '127.0.0.1:0', executor });
  return { executor, server };
}

export async function runCli(
  args: string[],
  stop: Promise<void> = Promise.resolve(),
  onOut?: (s: string) => void,
  onErr?: (s: string) => void,
): Promise<Run> {
  let code = 0;
  const out: string[] = [];
  const err: string[] = [];
  const saved = { ...cliOutput };
  const origErr = process.stderr.write.bind(process.stderr);
  cliOutput.out = (s) => {
    out.push(s);
    onOut?.(out.join(''));
  };
  cliOutput.err = (s) => {
    err.push(s);
    onErr?.(err.join(''));
  };
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    const program = new Command('raftq').exitOverride();
    for (const c of clientCommands(
      (c) => (code = c),
      () => stop,
    ))
      program.addCommand(c);
    await program.parseAsync(['node', 'raftq', ...args]);
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    code = e.exitCode === 0 ? 0 : 2;
  } finally {
    Object.assign(cliOutput, saved);
    process.stderr.write = origErr;
  }
  return { code, out: out.join(''), err: err.join('') };
}

/** A promise and the function resolving it. */
export function latch(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}
