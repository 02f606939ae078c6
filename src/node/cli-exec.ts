// `raftq worker QUEUE --exec CMD`: one shell command per task. Work that succeeded is never run
// again: exit 0 acks, always, with the result the user chose (`--result none|stdout|json`); a
// result over the cap is stored truncated with a flag and a warning, never turned into a retry.
// No child outlives its task: each runs in its own process group, killed at the lease-belief
// deadline, when it exits (whatever it left behind), on failure and on shutdown.
import { spawn } from 'node:child_process';
import { Command, Option } from 'commander';
import { msgpackCodec, type Codec } from '../client/codec.js';
import type { WorkerTask } from '../client/worker.js';
import { action, ClientUsageError, cliOutput, intArg, withCommon, type Common, type SetCode } from './cli-common.js';

export type ResultMode = 'none' | 'stdout' | 'json';
export const RESULT_MODES: readonly ResultMode[] = ['none', 'stdout', 'json'];

/**
 * A payload as the worker's codec hands it over: the bytes, decoded only when the child is fed, so
 * a payload JSON cannot show (a BigInt, an unknown extension) still reaches the command, as bytes.
 */
export class EncodedPayload {
  constructor(readonly bytes: Uint8Array) {}
}

/** The exec worker's codec: decoding is deferred to `childInput`; results are msgpack as usual. */
export const execCodec: Codec<unknown> = {
  encode: (v) => msgpackCodec.encode(v),
  decode: (bytes) => new EncodedPayload(bytes),
};

/** What the child reads on stdin, and how it is told the format (RAFTQ_PAYLOAD_FORMAT). */
export function childInput(payload: unknown): { bytes: Buffer; format: 'json' | 'text' | 'raw' } {
  if (payload instanceof Uint8Array) return { bytes: Buffer.from(payload), format: 'raw' };
  let value = payload;
  if (payload instanceof EncodedPayload) {
    try {
      value = msgpackCodec.decode(payload.bytes);
    } catch {
      return { bytes: Buffer.from(payload.bytes), format: 'raw' };
    }
  }
  if (typeof value === 'string') return { bytes: Buffer.from(value), format: 'text' };
  try {
    const text = JSON.stringify(value);
    if (text !== undefined) return { bytes: Buffer.from(text), format: 'json' };
  } catch {
    // a BigInt or a cycle: the bytes below
  }
  const raw = payload instanceof EncodedPayload ? payload.bytes : msgpackCodec.encode(value);
  return { bytes: Buffer.from(raw), format: 'raw' };
}

/** Process groups of the children still running (killed on shutdown and at exit). */
const liveGroups = new Set<number>();

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Kills every child process group still running; returns how many there were. */
export function killAllChildren(): number {
  const n = liveGroups.size;
  for (const pid of liveGroups) killGroup(pid);
  liveGroups.clear();
  return n;
}

export function liveChildren(): number {
  return liveGroups.size;
}

process.on('exit', () => void killAllChildren());

export interface ChildOutput {
  /** The first `captureMax` bytes of stdout. */
  stdout: Buffer;
  /** How many bytes the child wrote to stdout in all. */
  bytes: number;
}

/** Runs `command` for one task: payload on stdin, token in the environment; killed on abort. */
export function runChild(
  command: string,
  task: WorkerTask<unknown>,
  token: string,
  signal: AbortSignal,
  captureMax = Infinity,
): Promise<ChildOutput> {
  // Rendered before the child exists: nothing thrown after spawn can leave it waiting on stdin.
  const input = childInput(task.payload);
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      env: {
        ...process.env,
        RAFTQ_FENCING_TOKEN: token,
        RAFTQ_TASK_ID: task.id,
        RAFTQ_QUEUE: task.queue,
        RAFTQ_ATTEMPT: String(task.attempts + 1),
        RAFTQ_PAYLOAD_FORMAT: input.format,
      },
    });
    const pid = child.pid;
    if (pid !== undefined) liveGroups.add(pid);
    const kill = (): void => {
      if (pid !== undefined) killGroup(pid);
      else child.kill('SIGKILL');
    };
    const out: Buffer[] = [];
    let kept = 0;
    let bytes = 0;
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      bytes += c.byteLength;
      if (kept < captureMax) {
        const part = c.subarray(0, Math.min(c.byteLength, captureMax - kept));
        out.push(part);
        kept += part.byteLength;
      }
    });
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
    if (signal.aborted) kill();
    signal.addEventListener('abort', kill, { once: true });
    // The shell is done: whatever it left running in its group goes too, or it would hold the
    // pipes (and this worker) open.
    child.on('exit', kill);
    child.on('error', (e) => {
      signal.removeEventListener('abort', kill);
      if (pid !== undefined) liveGroups.delete(pid);
      reject(e);
    });
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', kill);
      if (pid !== undefined) liveGroups.delete(pid);
      if (code === 0) resolve({ stdout: Buffer.concat(out), bytes });
      else
        reject(
          new Error(sig ? `killed by ${sig}` : `exit code ${code}${err ? `: ${err.trim().split('\n').pop()}` : ''}`),
        );
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input.bytes);
  });
}

/** A result that did not fit: the head of stdout, flagged. */
export interface TruncatedResult {
  truncated: true;
  bytes: number;
  stdout: string;
}

function truncated(out: ChildOutput, maxBytes: number): TruncatedResult {
  const r: TruncatedResult = { truncated: true, bytes: out.bytes, stdout: '' };
  // Fit the encoded object under the cap: the head, less room for the fields around it.
  let head = out.stdout.subarray(0, Math.max(0, maxBytes - 64));
  for (;;) {
    r.stdout = head.toString('utf8');
    if (msgpackCodec.encode(r).byteLength <= maxBytes || head.byteLength === 0) return r;
    head = head.subarray(0, Math.floor(head.byteLength * 0.9));
  }
}

/** The task's result per `--result`; never throws (a successful command is acked, always). */
export function resultOf(
  mode: ResultMode,
  out: ChildOutput,
  maxBytes: number,
  warn: (message: string) => void,
): unknown {
  if (mode === 'none') return undefined;
  const text = out.stdout.toString('utf8').trim();
  let value: unknown = text;
  if (mode === 'json' && out.bytes <= out.stdout.byteLength) {
    try {
      value = JSON.parse(text) as unknown;
    } catch {
      warn('stdout is not JSON: stored as text');
    }
  }
  if (out.bytes > out.stdout.byteLength || msgpackCodec.encode(value).byteLength > maxBytes) {
    warn(`result of ${out.bytes} bytes exceeds the ${maxBytes}-byte cap: stored truncated`);
    return truncated(out, maxBytes);
  }
  return value;
}

interface WorkerFlags extends Common {
  exec: string;
  result: ResultMode;
  concurrency?: string;
  leaseMs?: string;
  holdMsMax?: string;
  /** Deprecated name of --hold-ms-max. */
  maxHoldMs?: string;
  closeTimeoutMs: string;
}

function workerOptions(f: WorkerFlags): Record<string, number> {
  const opts: Record<string, number> = { concurrency: intArg('--concurrency', f.concurrency, 1) ?? 1 };
  const leaseMs = intArg('--lease-ms', f.leaseMs, 1);
  if (leaseMs !== undefined) opts['leaseMs'] = leaseMs;
  if (f.holdMsMax === undefined && f.maxHoldMs !== undefined)
    cliOutput.err('raftq worker: --max-hold-ms is deprecated; use --hold-ms-max\n');
  const holdMsMax =
    f.holdMsMax !== undefined ? intArg('--hold-ms-max', f.holdMsMax, 0) : intArg('--max-hold-ms', f.maxHoldMs, 0);
  if (holdMsMax !== undefined) opts['holdMsMax'] = holdMsMax;
  return opts;
}

export function workerCommand(setCode: SetCode, stop: () => Promise<void>): Command {
  return withCommon(new Command('worker'))
    .description(
      'run a shell command per task: payload on stdin, token in RAFTQ_FENCING_TOKEN; exit 0 acks, anything else nacks',
    )
    .argument('<queue>')
    .requiredOption('--exec <command>', 'shell command to run per task')
    .addOption(new Option('--result <mode>', 'what to store as the result').choices(RESULT_MODES).default('none'))
    .option('--concurrency <n>', 'tasks at once', '1')
    .option('--lease-ms <ms>')
    .option('--hold-ms-max <ms>', 'longest hold of an empty lease request (long poll; default 20000)')
    .addOption(new Option('--max-hold-ms <ms>', 'deprecated: --hold-ms-max').hideHelp())
    .option('--close-timeout-ms <ms>', 'on SIGINT / SIGTERM: time to finish running commands', '10000')
    .action(
      action(
        setCode,
        async (client, o, queue: string) => {
          const f = o as WorkerFlags;
          const closeTimeoutMs = intArg('--close-timeout-ms', f.closeTimeoutMs, 0) ?? 10_000;
          if (!RESULT_MODES.includes(f.result))
            throw new ClientUsageError(`--result: one of ${RESULT_MODES.join(', ')}`);
          const cap = client.limits.resultBytesMax;
          const log = (line: Record<string, unknown>): void =>
            cliOutput.out(f.json ? `${JSON.stringify(line)}\n` : `${Object.values(line).join(' ')}\n`);
          const worker = client.worker(
            queue,
            async (task, ctx) => {
              const out = await runChild(f.exec, task, ctx.token, ctx.signal, f.result === 'none' ? 0 : cap + 1);
              return resultOf(f.result, out, cap, (m) => cliOutput.err(`raftq worker: task ${task.id}: ${m}\n`));
            },
            workerOptions(f),
          );
          worker.on('completed', (t: WorkerTask<unknown>) => log({ event: 'completed', id: t.id }));
          worker.on('failed', (t: { id: string }, e: unknown) =>
            log({ event: 'failed', id: t.id, error: e instanceof Error ? e.message : String(e) }),
          );
          worker.on('error', (e: unknown) =>
            cliOutput.err(`raftq worker: ${e instanceof Error ? e.message : String(e)}\n`),
          );
          await stop();
          await shutdown(() => worker.close({ timeoutMs: closeTimeoutMs }), closeTimeoutMs);
        },
        { codec: execCodec },
      ),
    );
}

/** Closes the worker, but never past the close timeout (plus a second for the releases). */
async function shutdown(close: () => Promise<void>, closeTimeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    close().catch(() => undefined),
    new Promise<void>((r) => (timer = setTimeout(r, closeTimeoutMs + 1_000))),
  ]);
  clearTimeout(timer);
  killAllChildren();
}
