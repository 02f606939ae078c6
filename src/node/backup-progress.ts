// Progress of `raftq backup` on the terminal (issue 16): bytes received of the total, on stderr. On
// a terminal one line is rewritten in place (\r); with --progress into a pipe or a file, a line per
// step (every 5 % or 500 ms, whichever comes later), and always the final 100 % line.

/** The total size of a backup answer: its Content-Length, or the header line plus the bytes it names. */
export function backupTotal(contentLength: string | null, head: Uint8Array): number | null {
  const n = contentLength === null ? NaN : Number(contentLength);
  if (Number.isSafeInteger(n) && n > 0) return n;
  const nl = head.indexOf(0x0a);
  if (nl < 0) return null;
  try {
    const bytes = (JSON.parse(new TextDecoder().decode(head.subarray(0, nl))) as { bytes?: unknown }).bytes;
    return typeof bytes === 'number' && Number.isSafeInteger(bytes) && bytes >= 0 ? nl + 1 + bytes : null;
  } catch {
    return null;
  }
}

export class ByteProgress {
  private lastPct = -1;
  private lastAt = -Infinity;
  private shown = false;

  constructor(
    private readonly write: (s: string) => void,
    /** A terminal: rewrite one line in place. */
    private readonly tty: boolean,
    private readonly now: () => number = () => Date.now(),
  ) {}

  private line(received: number, total: number | null): string {
    const of = total === null ? '' : ` of ${total}`;
    const pct = total === null || total === 0 ? '' : ` (${Math.floor((100 * received) / total)}%)`;
    return `raftq: backup: received ${received}${of} bytes${pct}`;
  }

  /** Called after each chunk; prints at most every 5 % (of a known total) and 500 ms. */
  update(received: number, total: number | null): void {
    const pct = total === null || total === 0 ? 0 : Math.floor((100 * received) / total);
    const t = this.now();
    if (t - this.lastAt < 500 || (total !== null && pct < this.lastPct + 5)) return;
    this.lastPct = pct;
    this.lastAt = t;
    this.print(this.line(received, total));
  }

  /** The final line: everything received. */
  done(received: number): void {
    this.print(this.line(received, received));
    if (this.tty) this.write('\n');
  }

  private print(s: string): void {
    this.shown = true;
    this.write(this.tty ? `\r${s}` : `${s}\n`);
  }

  /** Whether anything was printed (a terminal line to end before an error message). */
  get printed(): boolean {
    return this.shown;
  }
}

/** Reads a fetch answer's body whole, reporting each chunk to `progress` (when given). */
export async function readBody(res: Response, progress: ByteProgress | null): Promise<Uint8Array> {
  if (progress === null || res.body === null) return new Uint8Array(await res.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let received = 0;
  let total: number | null = null;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.byteLength;
    if (total === null) total = backupTotal(res.headers.get('content-length'), chunks[0] as Uint8Array);
    progress.update(received, total);
  }
  progress.done(received);
  const out = new Uint8Array(received);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
