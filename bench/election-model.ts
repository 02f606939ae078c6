// `npm run bench -- elections [--delay-ms D] [--kills N] [--json]`: how long a failover's election
// takes in a model of three Raft cores (the real src/raft, no processes): each core ticks every 50 ms
// at its own phase (the default `--heartbeat-ms`, `--election-ticks` 10, heartbeats every 5 ticks),
// every message is delayed by 0.2 ms plus an exponential of mean D ms (a busy event loop answering
// late), a durable write delays a Ready's messages by 2 ms. The leader is killed 3 to 3.5 s in; the
// time to the next leader among the other two is taken, N kills, each its own seed. It shows how
// often two followers time out together and split the vote (docs/decisions.md, "A split vote is
// retried within half an election timeout"); E in `npm run bench -- cluster` measures the real thing.
import { makeRaftConfig } from '../src/raft/config.js';
import { RaftNode } from '../src/raft/node.js';
import { Rng } from '../src/raft/rng.js';
import { MemoryStorage } from '../src/raft/storage.js';
import type { Membership, Message } from '../src/raft/types.js';

const TICK_MS = 50;
const WRITE_MS = 2;
const IDS = ['n1', 'n2', 'n3'];

interface Core {
  core: RaftNode;
  storage: MemoryStorage;
  dead: boolean;
}

/** A tiny discrete-event loop: events run in time order, ties in the order they were scheduled. */
class Events {
  now = 0;
  private seq = 0;
  private readonly queue: { t: number; seq: number; f: () => void }[] = [];

  at(t: number, f: () => void): void {
    this.queue.push({ t, seq: this.seq++, f });
  }

  /** Runs the next event; false when none is left. */
  step(): boolean {
    if (this.queue.length === 0) return false;
    let best = 0;
    for (let i = 1; i < this.queue.length; i++) {
      const e = this.queue[i] as { t: number; seq: number };
      const b = this.queue[best] as { t: number; seq: number };
      if (e.t < b.t || (e.t === b.t && e.seq < b.seq)) best = i;
    }
    const [e] = this.queue.splice(best, 1);
    if (e === undefined) return false;
    this.now = e.t;
    e.f();
    return true;
  }
}

class Model {
  readonly ev = new Events();
  readonly cores = new Map<string, Core>();
  private readonly rng: Rng;

  constructor(
    seed: number,
    private readonly delayMs: number,
  ) {
    this.rng = new Rng(seed * 7919 + 13);
    const membership: Membership = {
      members: IDS.map((id) => ({ id, storageId: `${id}-s`, address: `${id}:1`, role: 'voter' as const })),
    };
    for (const [i, id] of IDS.entries()) {
      const storage = new MemoryStorage(membership);
      const cfg = makeRaftConfig({ id, storageId: `${id}-s`, group: 1, electionTicks: 10, heartbeatTicks: 5 });
      this.cores.set(id, { core: new RaftNode(cfg, storage, new Rng(seed * 31 + i)), storage, dead: false });
      this.tick(id, this.rng.float() * TICK_MS);
    }
  }

  private delay(): number {
    return 0.2 - Math.log(1 - this.rng.float()) * this.delayMs;
  }

  private tick(id: string, t: number): void {
    this.ev.at(t, () => {
      const c = this.cores.get(id) as Core;
      if (c.dead) return;
      c.core.tick();
      this.pump(id);
      this.tick(id, t + TICK_MS + this.delay() * 0.2);
    });
  }

  /** Handles a core's Readys as the driver contract says: write, then send, then advance. */
  private pump(id: string): void {
    const c = this.cores.get(id) as Core;
    while (!c.dead && c.core.hasReady()) {
      const rd = c.core.ready();
      if (rd.snapshot !== null) c.storage.applySnapshot(rd.snapshot);
      c.storage.append(rd.entries);
      if (rd.hardState !== null) c.storage.setHardState(rd.hardState);
      const wait = rd.mustSync ? WRITE_MS : 0;
      for (const m of rd.messages) this.ev.at(this.ev.now + wait + this.delay(), () => this.deliver(m));
      c.core.advance();
    }
  }

  private deliver(m: Message): void {
    const to = this.cores.get(m.to);
    if (to === undefined || to.dead) return;
    to.core.step(m);
    this.pump(m.to);
  }

  leaders(): string[] {
    return IDS.filter((id) => {
      const c = this.cores.get(id) as Core;
      return !c.dead && c.core.softState().role === 'leader';
    });
  }

  /** Kills the leader 3–3.5 s in; returns the ms until another core leads (20 s at most). */
  failover(): number {
    const killAt = 3_000 + this.rng.float() * 500;
    while (this.ev.now < killAt && this.ev.step());
    const [old] = this.leaders();
    if (old === undefined) throw new Error('no leader 3 s after start');
    (this.cores.get(old) as Core).dead = true;
    const from = this.ev.now;
    while (this.ev.step() && this.ev.now - from < 20_000) if (this.leaders().length === 1) return this.ev.now - from;
    return 20_000;
  }
}

function flag(argv: string[], name: string, dflt: number): number {
  const i = argv.indexOf(name);
  const v = i >= 0 ? Number(argv[i + 1]) : dflt;
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number`);
  return v;
}

export async function run(opts: { json: boolean; argv?: string[] }): Promise<Record<string, unknown>> {
  const argv = opts.argv ?? process.argv.slice(2);
  const delayMs = flag(argv, '--delay-ms', 10);
  const kills = Math.max(1, Math.floor(flag(argv, '--kills', 2_000)));
  const ms = Array.from({ length: kills }, (_, i) => new Model(i + 1, delayMs).failover()).sort((a, b) => a - b);
  const q = (p: number): number => Math.round(ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)] as number);
  const over = (x: number): number => +((ms.filter((v) => v > x).length / ms.length) * 100).toFixed(2);
  const r = { delayMs, kills, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1), over1500pct: over(1_500) };
  console.log(
    `elections (model, mean message delay ${delayMs} ms, ${kills} kills): p50 ${r.p50} / p90 ${r.p90} / ` +
      `p99 ${r.p99} / max ${r.max} ms; over 1.5 s: ${r.over1500pct} %`,
  );
  return Promise.resolve(r);
}
