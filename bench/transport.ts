// `npm run bench -- transport`: CPU per Raft round trip between two processes over the node's own
// PeerTransport and PeerServer, on the gRPC Stream and on the raw TCP stream (docs/decisions.md
// "Raft messages travel on a raw TCP stream"): n1 sends an Append with one 300-byte entry, n2 (a child
// process, bench/transport-peer.mjs) answers with an AppendResp; `window` Appends in flight. Rounds
// alternate the kinds; the figures are medians. Every loop is bounded by its count and a deadline.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PeerServer } from '../src/rpc/peer-server.js';
import { PeerTransport, type StreamKind } from '../src/rpc/peer-transport.js';
import { EntryType, MessageType, type Message } from '../src/raft/types.js';
import { asLogIndex, asTerm } from '../src/protocol/ids.js';

const ROUNDS = 3;
const TRIPS = 20_000;
const WARMUP = 2_000;
const DEADLINE_MS = 60_000;

interface Trial {
  tripsPerS: number;
  senderUsPerTrip: number;
  receiverUsPerTrip: number;
}

function append(index: number, data: Uint8Array): Message {
  return {
    type: MessageType.Append,
    group: 0 as Message['group'],
    term: asTerm(5),
    from: 'n1',
    fromStorage: 's1' as Message['fromStorage'],
    to: 'n2',
    index: asLogIndex(index),
    logTerm: asTerm(5),
    commit: asLogIndex(index),
    entries: [{ index: asLogIndex(index + 1), term: asTerm(5), type: EntryType.Normal, data }],
  };
}

function once<T>(child: ChildProcess, pick: (m: Record<string, unknown>) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('transport bench: the child did not answer')), DEADLINE_MS);
    const on = (m: Record<string, unknown>): void => {
      const v = pick(m);
      if (v === undefined) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(v);
    };
    child.on('message', on);
  });
}

async function trial(kind: StreamKind, window: number): Promise<Trial> {
  const child = fork(fileURLToPath(new URL('./transport-peer.mjs', import.meta.url)), [kind], { execArgv: [] });
  const childPort = await once(child, (m) => (typeof m['port'] === 'number' ? m['port'] : undefined));
  const data = new Uint8Array(300).fill(7);
  let got = 0;
  let sent = 0;
  let started = 0n;
  let cpu0 = process.cpuUsage();
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const out = new PeerTransport({
    selfId: 'n1',
    peers: new Map([['n2', `127.0.0.1:${childPort}`]]),
    rawStreams: kind === 'raw',
  });
  const server = await PeerServer.start({
    address: '127.0.0.1:0',
    selfId: 'n1',
    onMessage: () => {
      got += 1;
      if (got === WARMUP) {
        started = process.hrtime.bigint();
        cpu0 = process.cpuUsage();
        child.send({ mark: 1 });
      }
      if (got === WARMUP + TRIPS) finish();
      else if (sent < WARMUP + TRIPS) out.send([append((sent += 1), data)]);
    },
  });
  child.send({ peer: server.address });
  // The first Appends may go before the child's transport exists: resend until one is answered.
  const deadline = Date.now() + DEADLINE_MS;
  while (got === 0 && Date.now() < deadline) {
    out.send([append(0, data)]);
    await new Promise((r) => setTimeout(r, 50));
  }
  for (let i = 0; i < window; i += 1) out.send([append((sent += 1), data)]);
  const timer = setTimeout(finish, DEADLINE_MS);
  await finished;
  clearTimeout(timer);
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  child.send({ done: 1 });
  const childUs = await once(child, (m) => (typeof m['cpuUs'] === 'number' ? m['cpuUs'] : undefined));
  out.close();
  await server.close(0);
  if (got < WARMUP + TRIPS)
    throw new Error(`transport bench: ${got - WARMUP} of ${TRIPS} round trips in ${DEADLINE_MS} ms`);
  return {
    tripsPerS: Math.round(TRIPS / wallS),
    senderUsPerTrip: +((cpu.user + cpu.system) / TRIPS).toFixed(1),
    receiverUsPerTrip: +(childUs / TRIPS).toFixed(1),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export async function run(): Promise<Record<string, unknown>> {
  const out: Record<string, Trial> = {};
  for (const window of [1, 16]) {
    const trials: Record<StreamKind, Trial[]> = { grpc: [], raw: [] };
    for (let r = 0; r < ROUNDS; r += 1) {
      for (const kind of ['grpc', 'raw'] as const) {
        const t = await trial(kind, window);
        trials[kind].push(t);
        console.log(`transport ${kind} window ${window} round ${r + 1}: ${JSON.stringify(t)}`);
      }
    }
    for (const kind of ['grpc', 'raw'] as const) {
      const ts = trials[kind];
      out[`${kind}_window_${window}`] = {
        tripsPerS: median(ts.map((t) => t.tripsPerS)),
        senderUsPerTrip: median(ts.map((t) => t.senderUsPerTrip)),
        receiverUsPerTrip: median(ts.map((t) => t.receiverUsPerTrip)),
      };
    }
  }
  console.log('| stream, window | round trips/s | sender CPU µs per round trip | receiver CPU µs per round trip |');
  console.log('|---|---|---|---|');
  for (const [k, t] of Object.entries(out))
    console.log(`| ${k} | ${t.tripsPerS} | ${t.senderUsPerTrip} | ${t.receiverUsPerTrip} |`);
  return out;
}
