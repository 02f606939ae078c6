// The nemeses of docs/faults.md §1.1: each episode injects one fault shape, records it as a fault
// window in the history (start ... stop, same kind and target), holds it, then undoes it. An
// episode ends early (still undoing its fault) when the fault phase is over.
import type { HistoryRecorder } from '../../../src/checker/index.js';
import type { JepsenCluster } from './cluster.js';
import type { LinkFault } from './fault-proxy.js';
import type { Rng } from './rng.js';

export interface NemesisContext {
  cluster: JepsenCluster;
  recorder: HistoryRecorder;
  rng: Rng;
  leaseMs: number;
  /** The largest election timeout of the cluster, ms. */
  electionMs: number;
  /** Aborted when the fault phase ends. */
  stop: AbortSignal;
  log: (line: string) => void;
}

export const nemesisKinds = ['kill', 'pause', 'partition', 'power', 'clock', 'disk', 'snapshot', 'member'] as const;
export type NemesisKind = (typeof nemesisKinds)[number];

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true || ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs `inject`, holds for `holdMs` (cut short at the end of the phase), then `undo`; records the window. */
async function episode(
  ctx: NemesisContext,
  kind: string,
  target: string,
  inject: () => Promise<unknown>,
  holdMs: number,
  undo: () => Promise<unknown>,
): Promise<void> {
  ctx.log(`fault start ${kind} ${target} for ${Math.round(holdMs)} ms`);
  ctx.recorder.fault(kind, 'start', target);
  try {
    await inject();
    await sleep(holdMs, ctx.stop);
  } finally {
    await undo();
    ctx.recorder.fault(kind, 'stop', target);
    ctx.log(`fault stop  ${kind} ${target}`);
  }
}

export async function leaderOr(ctx: NemesisContext): Promise<string> {
  return (await ctx.cluster.leader())?.id ?? ctx.rng.pick(ctx.cluster.live);
}

export async function followerOf(ctx: NemesisContext): Promise<string> {
  const leader = (await ctx.cluster.leader())?.id;
  return ctx.rng.pick(ctx.cluster.live.filter((id) => id !== leader));
}

export function minoritySize(n: number): number {
  return Math.floor((n - 1) / 2);
}

/** Targets of a named shape: one / leader / follower / minority / majority / all. */
export async function targets(ctx: NemesisContext, shape: string): Promise<string[]> {
  const ids = ctx.cluster.live;
  const leader = await leaderOr(ctx);
  switch (shape) {
    case 'leader':
      return [leader];
    case 'follower':
      return [await followerOf(ctx)];
    case 'minority': {
      // Half the time the minority holds the leader, half the time it does not (docs/faults.md §1.2).
      const withLeader = ctx.rng.next() < 0.5;
      const rest = ctx.rng.sample(
        ids.filter((id) => id !== leader),
        minoritySize(ids.length) - (withLeader ? 1 : 0),
      );
      return withLeader ? [leader, ...rest] : rest;
    }
    case 'majority':
      return ctx.rng.sample(ids, minoritySize(ids.length) + 1);
    case 'all':
      return [...ids];
    default:
      return [ctx.rng.pick(ids)];
  }
}

const label = (shape: string, ids: string[]): string => `${shape}:${ids.join(',')}`;

// ---------------------------------------------------------------- process (F1, F2, F11)

export async function killEpisode(ctx: NemesisContext, shape?: string): Promise<void> {
  const s = shape ?? ctx.rng.pick(['leader', 'follower', 'minority', 'majority', 'all', 'rolling']);
  if (s === 'rolling') return rollingRestart(ctx);
  const ids = await targets(ctx, s);
  await episode(
    ctx,
    'kill',
    label(s, ids),
    () => Promise.all(ids.map((id) => ctx.cluster.kill(id))),
    ctx.rng.between(300, 3_000),
    async () => ids.forEach((id) => ctx.cluster.start(id)),
  );
}

/** F11: every node in turn, each back up (answering /status) before the next goes down. */
export async function rollingRestart(ctx: NemesisContext): Promise<void> {
  const ids = ctx.rng.sample(ctx.cluster.ids, ctx.cluster.ids.length);
  await episode(
    ctx,
    'kill',
    label('rolling', ids),
    async () => {
      for (const id of ids) {
        if (ctx.stop.aborted) return;
        await ctx.cluster.kill(id);
        await sleep(ctx.rng.between(100, 1_000));
        ctx.cluster.start(id);
        const end = performance.now() + 20_000;
        while (performance.now() < end && (await ctx.cluster.status(id))?.ready !== true) await sleep(100);
      }
    },
    0,
    async () => ctx.cluster.ids.forEach((id) => ctx.cluster.start(id)),
  );
}

export async function pauseEpisode(ctx: NemesisContext, shape?: string, holdMs?: number): Promise<void> {
  const s = shape ?? ctx.rng.pick(['leader', 'follower', 'minority', 'majority']);
  const ids = await targets(ctx, s);
  // Below, around and above the election timeout, and above the lease time (docs/faults.md F2).
  const e = ctx.electionMs;
  const hold = holdMs ?? ctx.rng.pick([e / 3, e, 3 * e, ctx.leaseMs + 1_500]);
  await episode(
    ctx,
    'pause',
    label(s, ids),
    () => Promise.all(ids.map((id) => ctx.cluster.pause(id))),
    hold,
    () => Promise.all(ids.map((id) => ctx.cluster.resume(id))),
  );
}

// ---------------------------------------------------------------- power loss (F6)

export async function powerEpisode(ctx: NemesisContext, shape?: string): Promise<void> {
  const s = shape ?? ctx.rng.pick(['leader', 'follower', 'minority', 'all']);
  const ids = await targets(ctx, s);
  await episode(
    ctx,
    'power',
    label(s, ids),
    () => Promise.all(ids.map((id) => ctx.cluster.powerLoss(id))),
    ctx.rng.between(200, 2_000),
    async () => ids.forEach((id) => ctx.cluster.start(id)),
  );
}

// ---------------------------------------------------------------- network (F3, F4)

function cut(ctx: NemesisContext): LinkFault {
  return ctx.rng.next() < 0.75 ? { kind: 'drop' } : { kind: 'reset' };
}

/** Node groups of a partition shape; bridge and ring need 5 nodes and fall back to a split. */
export async function partitionGroups(ctx: NemesisContext, shape: string): Promise<string[][] | null> {
  const ids = ctx.rng.sample(ctx.cluster.ids, ctx.cluster.ids.length);
  const leader = await leaderOr(ctx);
  if (shape === 'isolate-leader') return [[leader], ctx.cluster.ids.filter((id) => id !== leader)];
  if (shape === 'split') return [ids.slice(0, minoritySize(ids.length)), ids.slice(minoritySize(ids.length))];
  return null;
}

export async function partitionEpisode(ctx: NemesisContext, shape?: string, holdMs?: number): Promise<void> {
  const n = ctx.cluster.ids.length;
  const shapes = ['isolate-leader', 'split', 'one-way-in', 'one-way-out', 'flapping', 'client-leader'];
  if (n >= 5) shapes.push('bridge', 'ring');
  const s = shape ?? ctx.rng.pick(shapes);
  const hold = holdMs ?? ctx.rng.between(ctx.electionMs, 5 * ctx.electionMs);
  const net = ctx.cluster.peers;
  const ids = ctx.cluster.ids;
  const leader = await leaderOr(ctx);
  const fault = cut(ctx);
  let inject: () => Promise<void>;
  let target: string;
  const undo = async (): Promise<void> => {
    net.heal();
    ctx.cluster.clients.heal();
  };
  switch (s) {
    case 'one-way-in':
    case 'one-way-out': {
      // in: the leader sends but hears nothing back; out: it hears but cannot send.
      target = `${s}:${leader}`;
      inject = async () => {
        for (const other of ids.filter((id) => id !== leader)) {
          if (s === 'one-way-in') net.set(other, leader, { kind: 'drop', direction: 'forward' });
          else net.set(leader, other, { kind: 'drop', direction: 'forward' });
        }
      };
      break;
    }
    case 'bridge': {
      // Two sides that cannot talk, and one node that talks to both.
      const order = ctx.rng.sample(ids, n);
      const bridge = order[0]!;
      const left = order.slice(1, 1 + Math.floor((n - 1) / 2));
      const right = order.slice(1 + left.length);
      target = `bridge:${bridge}|${left.join(',')}|${right.join(',')}`;
      inject = async () => {
        for (const a of left)
          for (const b of right) {
            net.set(a, b, fault);
            net.set(b, a, fault);
          }
      };
      break;
    }
    case 'ring': {
      // Majorities ring: each node sees only its two neighbours; every node is in some majority.
      const order = ctx.rng.sample(ids, n);
      target = `ring:${order.join(',')}`;
      inject = async () => {
        for (let i = 0; i < n; i += 1)
          for (let j = 0; j < n; j += 1) {
            const d = Math.min((i - j + n) % n, (j - i + n) % n);
            if (i !== j && d > 1) net.set(order[i]!, order[j]!, fault);
          }
      };
      break;
    }
    case 'flapping': {
      const groups = (await partitionGroups(ctx, ctx.rng.pick(['isolate-leader', 'split'])))!;
      target = `flapping:${groups.map((g) => g.join(',')).join('|')}`;
      inject = async () => {
        const end = performance.now() + hold;
        let on = false;
        while (performance.now() < end && !ctx.stop.aborted) {
          on = !on;
          if (on) net.partition(groups, fault);
          else net.heal();
          await sleep(ctx.rng.between(ctx.electionMs / 2, 2 * ctx.electionMs), ctx.stop);
        }
      };
      break;
    }
    case 'client-leader':
      // Clients lose the leader while the nodes still see each other.
      target = `client-leader:${leader}`;
      inject = async () => ctx.cluster.clients.set('client', leader, fault);
      break;
    default: {
      const groups = (await partitionGroups(ctx, s)) ?? (await partitionGroups(ctx, 'split'))!;
      target = `${s}:${groups.map((g) => g.join(',')).join('|')}`;
      inject = async () => net.partition(groups, fault);
    }
  }
  await episode(ctx, 'partition', target, inject, s === 'flapping' ? 0 : hold, undo);
}

/** F4: delay (jitter up to a few election timeouts) and connection resets on random links. */
export async function messageEpisode(ctx: NemesisContext): Promise<void> {
  const ids = ctx.cluster.ids;
  const links: [string, string][] = [];
  for (const a of ids) for (const b of ids) if (a !== b && ctx.rng.next() < 0.5) links.push([a, b]);
  const hold = ctx.rng.between(ctx.electionMs, 4 * ctx.electionMs);
  await episode(
    ctx,
    'partition',
    `delay:${links.map(([a, b]) => `${a}>${b}`).join(',')}`,
    async () => {
      for (const [a, b] of links) {
        const p = ctx.cluster.peers.proxy(a, b);
        // A reset first: messages retried on a new connection may overtake delayed ones.
        if (ctx.rng.next() < 0.5) p.set({ kind: 'reset' });
        p.set({ kind: 'delay', ms: Math.round(ctx.rng.between(20, 2 * ctx.electionMs)) });
      }
    },
    hold,
    async () => ctx.cluster.peers.heal(),
  );
}

// ---------------------------------------------------------------- clocks (F5)

export async function clockEpisode(ctx: NemesisContext, shape?: string): Promise<void> {
  const s = shape ?? ctx.rng.pick(['leader', 'follower', 'all', 'strobe', 'drift']);
  const ids = s === 'strobe' || s === 'drift' ? [await leaderOr(ctx)] : await targets(ctx, s);
  const bump = (): number => (ctx.rng.next() < 0.5 ? -1 : 1) * ctx.rng.between(ctx.leaseMs, 120_000);
  const hold = ctx.rng.between(1_000, 4_000);
  const reset = (): Promise<unknown> =>
    Promise.all(ids.map((id) => ctx.cluster.setClock(id, { wallOffsetMs: 0, monoRate: 1 })));
  let inject: () => Promise<unknown>;
  if (s === 'strobe') {
    inject = async () => {
      const end = performance.now() + hold;
      while (performance.now() < end && !ctx.stop.aborted) {
        await ctx.cluster.setClock(ids[0]!, { wallOffsetMs: bump() });
        await sleep(ctx.rng.between(50, 400), ctx.stop);
      }
    };
  } else if (s === 'drift') {
    // Within ρmax = 0.1 % of docs/design.md §2 (beyond it is the planted `mono-drift` run).
    inject = () => ctx.cluster.setClock(ids[0]!, { monoRate: ctx.rng.between(0.9995, 1.0005) });
  } else inject = () => Promise.all(ids.map((id) => ctx.cluster.setClock(id, { wallOffsetMs: bump() })));
  await episode(ctx, 'clock', label(s, ids), inject, s === 'strobe' ? 0 : hold, reset);
}

// ---------------------------------------------------------------- disk (F7, F8)

export async function diskEpisode(ctx: NemesisContext, shape?: string): Promise<void> {
  const s = shape ?? ctx.rng.pick(['slow-one', 'slow-all', 'fail-fsync', 'corrupt-minority']);
  const room = minoritySize(ctx.cluster.ids.length) - ctx.cluster.refused.size;
  if (s === 'corrupt-minority' && room > 0) return corruptEpisode(ctx);
  const ids = s === 'slow-all' ? [...ctx.cluster.live] : [ctx.rng.pick(ctx.cluster.live)];
  const hold = ctx.rng.between(1_000, 4_000);
  if (s === 'fail-fsync') {
    // The node must stop rather than acknowledge what it could not sync; it is restarted after.
    await episode(
      ctx,
      'disk',
      label(s, ids),
      () => ctx.cluster.failFsync(ids[0]!, 1),
      hold,
      async () => {
        await ctx.cluster.kill(ids[0]!);
        ctx.cluster.start(ids[0]!);
      },
    );
    return;
  }
  const ms = Math.round(ctx.rng.between(50, 400));
  await episode(
    ctx,
    'disk',
    `${label(s, ids)}:${ms}ms`,
    () => Promise.all(ids.map((id) => ctx.cluster.slowFsync(id, ms))),
    hold,
    () => Promise.all(ids.map((id) => ctx.cluster.slowFsync(id, 0))),
  );
}

/** F7: stop a minority, tear the tail of its newest log file, restart it. */
export async function corruptEpisode(ctx: NemesisContext, ids?: string[]): Promise<void> {
  // A damaged node may refuse to start (then it is out until replaced): never more than a minority.
  const room = minoritySize(ctx.cluster.ids.length) - ctx.cluster.refused.size;
  const candidates = (ids ?? (await targets(ctx, 'minority'))).filter((id) => !ctx.cluster.refused.has(id));
  if (candidates.length === 0 && ids === undefined) candidates.push(await followerOf(ctx));
  const victims = candidates.filter((id) => !ctx.cluster.refused.has(id)).slice(0, Math.max(0, room));
  if (victims.length === 0) return;
  await episode(
    ctx,
    'disk',
    label('corrupt', victims),
    async () => {
      for (const id of victims) {
        await ctx.cluster.kill(id);
        ctx.log(`corrupt ${id}: ${ctx.cluster.tearTail(id, ctx.rng)}`);
      }
    },
    ctx.rng.between(200, 1_000),
    async () => victims.forEach((id) => ctx.cluster.start(id)),
  );
}

// ---------------------------------------------------------------- snapshot pressure (F10)

/**
 * A follower falls behind (down, or cut off), so that with a tiny snapshot threshold it must
 * install a snapshot; it is killed again shortly after it comes back (mid-install), then restarted.
 */
export async function snapshotEpisode(ctx: NemesisContext): Promise<void> {
  const id = await followerOf(ctx);
  const viaPartition = ctx.rng.next() < 0.5;
  await episode(
    ctx,
    'snapshot',
    `${viaPartition ? 'partition' : 'kill'}-lagging:${id}`,
    async () => {
      if (viaPartition) ctx.cluster.peers.isolate(id);
      else await ctx.cluster.kill(id);
    },
    ctx.rng.between(1_500, 4_000),
    async () => {
      ctx.cluster.peers.heal();
      ctx.cluster.start(id);
      await sleep(ctx.rng.between(100, 600));
      await ctx.cluster.kill(id);
      ctx.cluster.start(id);
    },
  );
}

// ---------------------------------------------------------------- membership (F9)

/**
 * A follower (or, one time in three or so, the leader) is removed from the membership (raftq members
 * remove), killed, its data dir wiped, then
 * started with --join: it comes back as a learner under a new storage id, catches up (snapshot and
 * log) and is promoted. If the removal is refused (NO_QUORUM under other faults), it is only killed.
 */
export async function memberEpisode(ctx: NemesisContext): Promise<void> {
  // Now and then the leader itself (C12's first half): it hands leadership over, then is removed.
  const id = ctx.rng.next() < 0.3 ? await leaderOr(ctx) : await followerOf(ctx);
  let removed = 'not asked';
  await episode(
    ctx,
    'member',
    `remove-wipe-rejoin:${id}`,
    async () => {
      removed = await ctx.cluster.removeMember(id);
      ctx.log(`member remove ${id}: ${removed}`);
      await ctx.cluster.kill(id);
      if (removed === 'ok') ctx.cluster.wipe(id);
    },
    ctx.rng.between(500, 2_000),
    async () => {
      ctx.cluster.start(id);
      if (removed !== 'ok') return;
      // Back as a voter before the next episode, so that no later one works on a smaller cluster.
      const end = performance.now() + 30_000;
      while (performance.now() < end && !(await ctx.cluster.isVoter(id))) await sleep(200);
      ctx.log(`member ${id} rejoined: ${(await ctx.cluster.isVoter(id)) ? 'a voter' : 'not a voter yet'}`);
    },
  );
}

export const episodes: Record<NemesisKind, (ctx: NemesisContext) => Promise<void>> = {
  kill: (ctx) => killEpisode(ctx),
  pause: (ctx) => pauseEpisode(ctx),
  partition: (ctx) => (ctx.rng.next() < 0.8 ? partitionEpisode(ctx) : messageEpisode(ctx)),
  power: (ctx) => powerEpisode(ctx),
  clock: (ctx) => clockEpisode(ctx),
  disk: (ctx) => diskEpisode(ctx),
  snapshot: (ctx) => snapshotEpisode(ctx),
  member: (ctx) => memberEpisode(ctx),
};
