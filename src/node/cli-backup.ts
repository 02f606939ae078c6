// `raftq backup --out FILE` (from the leader's admin port, checked before it is kept) and
// `raftq restore FILE --data-dir DIR --id ID --peers … --cluster-id NEW` (seeds one member of a new
// cluster; run it once per member with the same file and --peers). See backup.ts.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { decodeBackup, restoreBackup } from './backup.js';
import { ByteProgress, readBody } from './backup-progress.js';
import { cliOutput, ClientUsageError, intArg, type SetCode } from './cli-common.js';
import { ConfigError, parsePeers } from './config.js';

interface BackupOpts {
  admin?: string;
  out?: string;
  token?: string;
  timeoutMs?: string;
  json?: boolean;
  progress?: boolean;
}

async function fetchBackup(
  addresses: string[],
  token: string | undefined,
  deadline: number,
  progress: ByteProgress | null,
): Promise<Uint8Array> {
  let last = `no admin address answered (tried ${addresses.join(', ')})`;
  while (Date.now() < deadline) {
    for (const a of addresses) {
      try {
        const res = await fetch(`http://${a}/admin/backup`, {
          ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
          signal: AbortSignal.timeout(Math.max(2_000, deadline - Date.now())),
        });
        if (res.ok) return await readBody(res, progress);
        const text = await res.text();
        last = `${a}: ${text.trim().slice(0, 300)}`;
        try {
          const b = JSON.parse(text) as { code?: string; message?: string };
          last = `${b.code ?? res.status}: ${b.message ?? ''}`;
        } catch {
          // not JSON: keep the text
        }
      } catch (err) {
        last = `${a}: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(last);
}

function backupCommand(setCode: SetCode): Command {
  return new Command('backup')
    .description("write a consistent backup of the cluster's state (taken on the leader after a read barrier)")
    .requiredOption('--out <file>', 'where to write the backup')
    .option('--admin <list>', "admin HTTP addresses host:port,… (the nodes' --http; default: $RAFTQ_ADMIN)")
    .option('--token <token>', 'admin bearer token when the cluster has auth on (default: $RAFTQ_TOKEN)')
    .option('--timeout-ms <ms>', 'give up after this long (default 60000)')
    .option('--json', 'print the backup header as JSON')
    .option('--progress', 'print progress to stderr even when it is not a terminal (it is on a terminal)')
    .action(async (o: BackupOpts) => {
      try {
        const raw = o.admin ?? process.env['RAFTQ_ADMIN'] ?? '';
        if (raw.trim() === '') throw new ClientUsageError('no admin addresses: pass --admin or set RAFTQ_ADMIN');
        const timeoutMs = intArg('--timeout-ms', o.timeoutMs, 1) ?? 60_000;
        const out = o.out as string;
        cliOutput.err(`raftq: asking the leader for a backup…\n`);
        const bytes = await fetchBackup(
          raw.split(',').map((s) => s.trim()),
          o.token ?? process.env['RAFTQ_TOKEN'],
          Date.now() + timeoutMs,
          o.progress === true || process.stderr.isTTY ? new ByteProgress(cliOutput.err, process.stderr.isTTY) : null,
        );
        const { header } = decodeBackup(bytes); // checked before it is kept
        writeFileSync(`${out}.part`, bytes, { mode: 0o600 });
        renameSync(`${out}.part`, out);
        cliOutput.out(
          o.json
            ? `${JSON.stringify(header)}\n`
            : `backup of cluster ${header.clusterId} at index ${header.index} (term ${header.term}): ${bytes.byteLength} bytes, sha256 ${header.sha256}, digest ${header.digest}, written to ${out}\n`,
        );
        setCode(0);
      } catch (e) {
        if (o.out) rmSync(`${o.out}.part`, { force: true });
        cliOutput.err(`raftq: backup: ${e instanceof Error ? e.message : String(e)}\n`);
        setCode(e instanceof ClientUsageError ? 2 : 1);
      }
    });
}

interface RestoreOpts {
  dataDir: string;
  id: string;
  peers: string;
  clusterId: string;
  json?: boolean;
}

function restoreCommand(setCode: SetCode): Command {
  return new Command('restore')
    .description(
      'seed one member of a NEW cluster from a backup (run it for every member, with the same file and --peers)',
    )
    .argument('<file>', 'the backup file')
    .requiredOption('--data-dir <dir>', "this member's new, empty data dir")
    .requiredOption('--id <id>', 'this member id')
    .requiredOption('--peers <list>', "the new cluster's members: id=host:port,… (as for raftq start)")
    .requiredOption('--cluster-id <id>', "the new cluster's id: must differ from the backed-up cluster's")
    .option('--json', 'print the backup header as JSON')
    .action(async (file: string, o: RestoreOpts) => {
      try {
        const peers = [...parsePeers(o.peers).keys()];
        const h = await restoreBackup({ file, dataDir: o.dataDir, id: o.id, peers, clusterId: o.clusterId });
        cliOutput.out(
          o.json
            ? `${JSON.stringify(h)}\n`
            : `restored ${o.id} of cluster ${o.clusterId} from the backup of ${h.clusterId} at index ${h.index} (digest ${h.digest}); start it with raftq start --id ${o.id} --cluster-id ${o.clusterId} --data-dir ${o.dataDir} --peers …\n`,
        );
        setCode(0);
      } catch (e) {
        cliOutput.err(`raftq: restore: ${e instanceof Error ? e.message : String(e)}\n`);
        setCode(e instanceof ConfigError ? 2 : 1);
      }
    });
}

/** `raftq backup` and `raftq restore`, for src/node/cli.ts to register. */
export function backupCommands(setCode: SetCode): Command[] {
  return [backupCommand(setCode), restoreCommand(setCode)];
}
