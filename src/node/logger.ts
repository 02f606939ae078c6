// Structured logs (pino): JSON by default, pretty on a TTY when pino-pretty is present, quiet by
// default. Never log payload bytes: callers pass ids, sizes and counts only.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(opts: { level: string; nodeId?: string; destination?: NodeJS.WritableStream }): Logger {
  const base = opts.nodeId ? { node: opts.nodeId } : {};
  return pino(
    { level: opts.level, base, timestamp: pino.stdTimeFunctions.isoTime },
    opts.destination ?? process.stderr,
  );
}
