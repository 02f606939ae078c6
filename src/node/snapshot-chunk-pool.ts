// Buffers for one snapshot's task chunks, reused once the sink has let go of them. A chunk the state
// machine writes is copied into a buffer of its own; without reuse, a snapshot of 1,000,000 waiting
// tasks allocated 340 MiB of them in a few seconds, and V8 starts a full garbage collection for every
// 64 MiB of new buffers: each one marked the million tasks again (3.7 s of a leader's helper threads
// per snapshot, perf, session 33). The sink writes chunks in order, so the chunks it has released are
// the oldest ones handed to it.
const BUFFER_BYTES = 128 * 1024;
/** Free buffers kept at most (the sink holds at most PENDING_BYTES_MAX of chunks in flight). */
const FREE_MAX = 256;

export class ChunkPool {
  private readonly free: Uint8Array[] = [];
  /** Chunks handed to the sink, oldest first, with the running byte count at each one's end. */
  private readonly handed: { buf: Uint8Array | null; end: number }[] = [];
  private head = 0;
  private handedBytes = 0;
  private readonly mine = new WeakSet<ArrayBufferLike>();
  /** Buffers made and reused (tests, and how well the pool works). */
  made = 0;
  reused = 0;

  constructor(
    /** Planted bug (simulation only): every chunk handed out counts as released at once. */
    private readonly plantEarlyReuse = false,
  ) {}

  /** A buffer of at least `n` bytes for a chunk (the state machine's RowWriter). */
  readonly alloc = (n: number): Uint8Array => {
    if (n > BUFFER_BYTES) return new Uint8Array(n);
    const b = this.free.pop();
    if (b !== undefined) {
      this.reused++;
      return b;
    }
    this.made++;
    const fresh = new Uint8Array(BUFFER_BYTES);
    this.mine.add(fresh.buffer);
    return fresh;
  };

  /** `chunk` goes to the sink now (every chunk does, in order, ours or not). */
  handedOut(chunk: Uint8Array): void {
    this.handedBytes += chunk.byteLength;
    const ours = this.mine.has(chunk.buffer) && chunk.byteOffset === 0;
    this.handed.push({ buf: ours ? new Uint8Array(chunk.buffer) : null, end: this.handedBytes });
  }

  /** The sink holds none of the first `releasedBytes` bytes handed to it any more: their buffers are free. */
  reclaim(releasedBytes: number): void {
    if (this.plantEarlyReuse) releasedBytes = Infinity;
    while (this.head < this.handed.length) {
      const h = this.handed[this.head];
      if (h === undefined || h.end > releasedBytes) break;
      this.head++;
      if (h.buf !== null && this.free.length < FREE_MAX) this.free.push(h.buf);
    }
    if (this.head > 1024) {
      this.handed.splice(0, this.head);
      this.head = 0;
    }
  }
}
