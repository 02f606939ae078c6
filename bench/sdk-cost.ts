// `npm run bench -- sdk [--rounds R] [--n N] [--sdk-dir DIR] [--json]`: the SDK's own CPU per enqueue,
// against an in-process fake node that answers every Submit at once (no cluster, no sockets). The
// cluster workloads time the SDK, the leader, the disks and the followers in one chain, on a machine
// whose speed moves by a fifth between runs; this isolates the SDK's share, so a change to it shows
// in a few alternating runs (`--sdk-dir` points at another build's dist/ to compare two builds).
// The fake still serializes each Submit and parses each reply with the real protobuf codecs, so the
// figure is the SDK's work plus a fixed share of the fake's (the same for both sides of a comparison).
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type * as Sdk from '../src/client/index.js';
import type { CallCancel, Message, Method, StreamHandlers, StreamMethod, Transport } from '../src/client/transport.js';
import { CLIENT_SERVICE, PROTO_LOADER_OPTIONS, protoFilePath } from '../src/protocol/proto.js';
import { payload } from './e2e.js';

interface Options {
  rounds: number;
  n: number;
  sdkDir: string;
}

function parseArgs(argv: string[]): Options {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (name: string, dflt: number, min: number, max: number): number => {
    const v = Number(get(name) ?? dflt);
    if (!Number.isSafeInteger(v) || v < min || v > max)
      throw new Error(`--${name} must be an integer in ${min}..${max}`);
    return v;
  };
  return {
    rounds: int('rounds', 5, 1, 50),
    n: int('n', 50_000, 1_000, 1_000_000),
    sdkDir: get('sdk-dir') ?? fileURLToPath(new URL('../dist', import.meta.url)),
  };
}

/**
 * A node that answers Submits of enqueues, and lone enqueue calls (the SDK's merged single enqueues),
 * with fresh ids, a turn later (as a reply off a socket would).
 */
class FakeNode implements Transport {
  private readonly submit: grpc.MethodDefinition<Message, Message>;
  private readonly enqueue: grpc.MethodDefinition<Message, Message>;
  private nextId = 1;
  /** Tasks the fake still hands out to lease requests (the worker case), and the token counter. */
  leasable = 0;
  private token = 1;
  private readonly leasePayload = payload(0);

  constructor() {
    const def = protoLoader.loadSync(protoFilePath('client.proto'), PROTO_LOADER_OPTIONS)[CLIENT_SERVICE];
    const methods = def as unknown as grpc.ServiceDefinition;
    this.submit = methods['SubmitStream'] as grpc.MethodDefinition<Message, Message>;
    this.enqueue = methods['Enqueue'] as grpc.MethodDefinition<Message, Message>;
  }

  async call(address: string, method: Method, request: Message = {}): Promise<Message> {
    if (method === 'OpenSession') return { session: '1', timeoutMs: 60_000, index: 1 };
    if (method === 'Status') return { leaderAddress: address };
    if (method === 'Enqueue') {
      this.enqueue.requestSerialize(request); // the SDK's encoding of it
      const items = ((request['tasks'] ?? []) as unknown[]).map(() => this.id());
      const reply = this.enqueue.responseDeserialize(this.enqueue.responseSerialize({ items }) as Buffer);
      return new Promise((resolve) => setImmediate(() => resolve(reply)));
    }
    throw new Error(`sdk bench: the fake node has no ${method}`);
  }

  private id(): Message {
    return { id: (this.nextId++).toString(16), deduplicated: false };
  }

  callCancellable(address: string, method: Method, request: Message, _ms: number, _c: CallCancel): Promise<Message> {
    if (method !== 'Submit') return this.call(address, method, request);
    this.submit.requestSerialize({ id: 1, submit: request, timeoutMs: 1_000 }); // the SDK's encoding of it
    const items = request['items'] as Record<string, { tasks?: unknown[] }>[];
    const id = (): Message => this.id();
    // Enqueues get ids, leases the tasks left to hand out, acks an ok per item; anything else (the
    // session's close) gets an empty answer of its kind.
    const results = items.map((it) => {
      if (it['enqueue'] !== undefined) return { enqueue: { items: (it['enqueue'].tasks ?? []).map(id) } };
      if (it['lease'] !== undefined) return { lease: this.lease(it['lease'] as Message) };
      if (it['ack'] !== undefined) {
        const acked = (it['ack'] as { items?: { id: string }[] }).items ?? [];
        return { ack: { results: acked.map((a) => ({ id: a.id, ok: true })), index: this.token } };
      }
      return { [Object.keys(it)[0] as string]: {} };
    });
    const bytes = this.submit.responseSerialize({ id: 1, submit: { results } });
    const reply = this.submit.responseDeserialize(bytes as Buffer)['submit'] as Message; // the SDK's decoding
    return new Promise((resolve) => setImmediate(() => resolve(reply)));
  }

  /** Up to the request's max of the tasks left, granted at once (no hold). */
  private lease(req: Message): Message {
    const k = Math.min(Number(req['max'] ?? 1), this.leasable);
    this.leasable -= k;
    const token = String(++this.token);
    const tasks = Array.from({ length: k }, () => ({
      id: String(this.nextId++), // decimal, as acks must name them
      queue: 'sdk-bench',
      token,
      payload: this.leasePayload,
      headers: { 'raftq-codec': 'raw' },
      leaseMs: 30_000,
      attempts: 1,
      deliveries: 1,
      leases: 1,
    }));
    return { tasks, heldMs: 0, index: this.token };
  }

  stream(_a: string, _m: StreamMethod, _r: Message, _h: StreamHandlers): () => void {
    return () => undefined;
  }

  streamsSubmit(): boolean {
    return true;
  }

  close(): void {}
}

/** CPU µs per task: `n` tasks, `window` calls in flight, `batch` tasks per call (0: single enqueues). */
async function round(q: Sdk.Queue<Uint8Array>, n: number, window: number, batch: number): Promise<number> {
  let next = 0;
  const c0 = process.cpuUsage();
  const lane = async (): Promise<void> => {
    while (next < n) {
      const from = next;
      if (batch === 0) {
        next += 1;
        await q.enqueue(payload(from));
      } else {
        const k = Math.min(batch, n - from);
        next += k;
        await q.enqueueMany(Array.from({ length: k }, (_, j) => ({ payload: payload(from + j) })));
      }
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

/** CPU µs per task of a worker (concurrency 256, empty handler) leasing and acking `n` tasks. */
async function workerRound(client: Sdk.Client, fake: FakeNode, n: number): Promise<number> {
  let done = 0;
  let finish = (): void => undefined;
  const all = new Promise<void>((resolve) => (finish = resolve));
  fake.leasable = n;
  const c0 = process.cpuUsage();
  const w = client.worker<Uint8Array>('sdk-bench', async () => undefined, { concurrency: 256, leaseMs: 30_000 });
  w.on('error', (e) => console.error('sdk bench: worker error', e));
  w.on('completed', () => {
    if (++done === n) finish();
  });
  await all;
  const c = process.cpuUsage(c0);
  await w.close();
  return (c.user + c.system) / n;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export async function run(opts: { json: boolean; argv?: string[] }): Promise<Record<string, unknown>> {
  const o = parseArgs(opts.argv ?? process.argv.slice(2));
  const sdk = (await import(`${o.sdkDir}/src/client/index.js`)) as typeof Sdk;
  const fake = new FakeNode();
  const client = new sdk.Client({ servers: ['127.0.0.1:1'], transport: new sdk.CoalescingTransport(fake) });
  const q = client.queue<Uint8Array>('sdk-bench');
  const out: Record<string, number[]> = { single: [], batch100: [], worker: [] };
  try {
    for (let i = 0; i < 3; i++) {
      // the JIT's warm-up
      await round(q, o.n, 256, 0);
      await workerRound(client, fake, o.n);
    }
    for (let i = 0; i < o.rounds; i++) {
      out['single']!.push(await round(q, o.n, 256, 0));
      out['batch100']!.push(await round(q, o.n, 2, 100));
      out['worker']!.push(await workerRound(client, fake, o.n));
    }
  } finally {
    await client.close();
  }
  const result = {
    sdkDir: o.sdkDir,
    n: o.n,
    rounds: o.rounds,
    single_enqueue_cpu_us: Number(median(out['single']!).toFixed(2)),
    batched_enqueue_cpu_us_per_task: Number(median(out['batch100']!).toFixed(2)),
    worker_cpu_us_per_task: Number(median(out['worker']!).toFixed(2)),
    samples: out,
  };
  if (!opts.json) {
    console.log(`sdk: ${o.sdkDir}`);
    console.log(
      `single enqueues (256 in flight): ${result.single_enqueue_cpu_us} µs of CPU each (median of ${o.rounds})`,
    );
    console.log(`enqueueMany of 100 (2 in flight): ${result.batched_enqueue_cpu_us_per_task} µs per task`);
    console.log(`a worker (concurrency 256) leasing and acking: ${result.worker_cpu_us_per_task} µs per task`);
  }
  return result;
}
