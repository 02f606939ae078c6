// In-process fuzzing of the two decoders a node feeds with bytes from storage and from its leader
// (issue #14): the log-entry decoder (QueueStateMachine.apply) and the snapshot decoder
// (QueueStateMachine.restore). Inputs are random bytes and mutations of real entries and snapshots.
// Two replicas apply every input in the same order: they must never throw, must keep equal digests
// (no divergence), and an undecodable entry must change nothing but its counter. A snapshot that
// does not decode must throw an Error (the caller treats it as damage), and the machine must then
// restore a good snapshot to exactly its digest.
import { asLogIndex } from '../../src/protocol/ids.js';
import { encodeEnvelope, type Command, type SessionCommand } from '../../src/protocol/index.js';
import { QueueStateMachine } from '../../src/statemachine/index.js';

export interface DecoderFuzzReport {
  entries: number;
  undecodable: number;
  snapshots: number;
  snapshotRefused: number;
  failures: string[];
}

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WALL0 = 1_700_000_000_000;

function entry(mono: number, cmds: Command[]): Uint8Array {
  const sc: SessionCommand[] = cmds.map((cmd) => ({ session: null, seq: 0, cmd }));
  return encodeEnvelope({ v: 1, mono, wall: WALL0 + mono, cmds: sc });
}

/** Real entries to mutate: queue set-up, enqueues, leases, acks. */
function seeds(): Uint8Array[] {
  const q = 'fz';
  return [
    entry(1000, [{ type: 'createQueue', queue: q, settings: { leaseMs: 1000 } } as never]),
    entry(1001, [{ type: 'enqueue', queue: q, tasks: [{ payload: new Uint8Array([1, 2]) }] } as never]),
    entry(1002, [{ type: 'lease', queue: q, workerId: 'w', max: 2 } as never]),
    entry(1003, [{ type: 'ack', items: [{ id: '1', token: '3' }] } as never]),
    entry(1004, [{ type: 'purgeQueue', queue: q } as never]),
  ];
}

function mutate(r: () => number, src: Uint8Array): Uint8Array {
  let b = Buffer.from(src);
  const int = (n: number): number => Math.floor(r() * n);
  for (let k = 1 + int(3); k > 0; k--) {
    const at = b.length === 0 ? 0 : int(b.length);
    const op = int(4);
    if (op === 0 && b.length > 0) b[at] = (b[at] as number) ^ (1 << int(8));
    else if (op === 1) b = b.subarray(0, at);
    else if (op === 2) b = Buffer.concat([b.subarray(0, at), Buffer.from([int(256), int(256)]), b.subarray(at)]);
    else if (b.length > 0) b[at] = [0x00, 0x7f, 0xc0, 0xcf, 0xdc, 0xff][int(6)] as number;
  }
  return new Uint8Array(b);
}

function randomBytes(r: () => number, max: number): Uint8Array {
  const b = new Uint8Array(Math.floor(r() * (max + 1)));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  return b;
}

function concat(chunks: Iterable<Uint8Array>): Uint8Array {
  return new Uint8Array(Buffer.concat([...chunks]));
}

/** Applies `count` entry inputs to two replicas and tries `count / 10` snapshot inputs. */
export function fuzzDecoders(count: number, seed: number): DecoderFuzzReport {
  const r = prng(seed);
  const report: DecoderFuzzReport = { entries: 0, undecodable: 0, snapshots: 0, snapshotRefused: 0, failures: [] };
  const a = new QueueStateMachine();
  const b = new QueueStateMachine();
  // Gets an empty entry wherever a and b counted an undecodable one: their state must equal its.
  const ref = new QueueStateMachine();
  const base = seeds();
  let index = 0;
  for (let i = 0; i < count && report.failures.length < 10; i++) {
    const pick = Math.floor(r() * 4);
    const data =
      pick === 0
        ? randomBytes(r, 96)
        : pick === 1
          ? (base[i % base.length] as Uint8Array)
          : mutate(r, base[Math.floor(r() * base.length)] as Uint8Array);
    index += 1;
    const undecodableBefore = a.counters.undecodable;
    try {
      a.apply(asLogIndex(index), data);
      b.apply(asLogIndex(index), data);
    } catch (e) {
      report.failures.push(`entry ${index}: apply threw ${String(e)}`);
      continue;
    }
    report.entries += 1;
    if (a.counters.undecodable > undecodableBefore) {
      report.undecodable += 1;
      ref.applyEmpty(asLogIndex(index));
    } else {
      ref.apply(asLogIndex(index), data);
    }
    // Digests are cumulative: comparing every 64 entries (and at the end) finds any divergence.
    if (index % 64 !== 0 && i !== count - 1) continue;
    if (a.digest() !== ref.digest())
      report.failures.push(`by entry ${index}: undecodable entries did more than empty ones`);
    if (a.digest() !== b.digest()) report.failures.push(`by entry ${index}: replicas diverged`);
  }
  const good = concat(a.snapshot());
  const goodDigest = a.digest();
  for (let i = 0; i < Math.ceil(count / 10) && report.failures.length < 10; i++) {
    const data = r() < 0.3 ? randomBytes(r, 256) : mutate(r, good);
    const c = new QueueStateMachine();
    report.snapshots += 1;
    try {
      c.restore(data);
    } catch (e) {
      if (!(e instanceof Error)) report.failures.push(`snapshot ${i}: threw a non-Error ${String(e)}`);
      report.snapshotRefused += 1;
      try {
        c.restore(good);
        if (c.digest() !== goodDigest) report.failures.push(`snapshot ${i}: a good restore after a bad one differs`);
      } catch (e2) {
        report.failures.push(`snapshot ${i}: a good restore after a bad one threw ${String(e2)}`);
      }
    }
  }
  return report;
}
