// `raftq --version` and `raftq completion bash|zsh`. The completion script is generated from the
// command tree itself, so it never lags behind the commands.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Argument, Command } from 'commander';

/** The package version, from the package.json above this file (src/node or dist/src/node). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    dir = dirname(dir);
  }
  return 'unknown';
}

function words(cmd: Command): string {
  const opts = cmd.options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined));
  return [...cmd.commands.map((c) => c.name()), ...opts, '--help'].join(' ');
}

/** `case` arms: a group completes its subcommands, a leaf its options (after any arguments). */
function arms(cmd: Command, path: string[], out: string[]): void {
  const key = path.join(' ');
  if (cmd.commands.length > 0) {
    out.push(`    "${key}") words="${words(cmd)}" ;;`);
    for (const c of cmd.commands) arms(c, [...path, c.name()], out);
  } else {
    out.push(`    "${key}"|"${key} "*) words="${words(cmd)}" ;;`);
  }
}

export function bashCompletion(program: Command): string {
  const out: string[] = [];
  arms(program, [], out);
  return `# raftq bash completion: source <(raftq completion bash)
_raftq_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" key="" i w words=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ $w == -* ]] && continue
    key="\${key:+$key }$w"
  done
  case "$key" in
${out.join('\n')}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _raftq_complete raftq
`;
}

export function zshCompletion(program: Command): string {
  return `# raftq zsh completion: source <(raftq completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program)}`;
}

export function completionCommand(program: () => Command): Command {
  return new Command('completion')
    .description('print a shell completion script: source <(raftq completion bash)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .action((shell: string) => {
      process.stdout.write(shell === 'zsh' ? zshCompletion(program()) : bashCompletion(program()));
    });
}
