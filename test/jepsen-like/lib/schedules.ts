// The fault schedules: a rotation through nemesis classes (`--nemesis kill,pause,...|all`), and the
// named combinations of docs/faults.md §1.2 (`--schedule C1`). A schedule runs rounds until the fault
// phase ends; every round leaves the cluster healed, with a quiet period between rounds.
import {
  clockEpisode,
  corruptEpisode,
  episodes,
  followerOf,
  killEpisode,
  leaderOr,
  messageEpisode,
  minoritySize,
  nemesisKinds,
  partitionEpisode,
  pauseEpisode,
  powerEpisode,
  sleep,
  snapshotEpisode,
  type NemesisContext,
  type NemesisKind,
} from './nemesis.js';
import { churnRound, removeLeaderRound } from './membership.js';

export type ScheduleName = 'C1' | 'C2' | 'C3' | 'C4' | 'C5' | 'C6' | 'C7' | 'C8' | 'C9' | 'C10' | 'C11' | 'C12' | 'C13';
export const scheduleNames: readonly ScheduleName[] = [
  'C1',
  'C2',
  'C3',
  'C4',
  'C5',
  'C6',
  'C7',
  'C8',
  'C9',
  'C10',
  'C11',
  'C12',
  'C13',
];

export interface Schedule {
  /** One round: inject, hold and undo its faults. */
  round(ctx: NemesisContext): Promise<void>;
  /** Fault kinds a round records, each needed at least once per run (minimum counts). */
  kinds: string[];
  /** Quiet period between rounds, ms (default 1–3 s): time for traffic between heavy faults. */
  quietMs?: [number, number];
  /** Snapshot threshold the cluster must run with (F10), if the schedule needs one. */
  snapshotEveryEntries?: number;
}

function ids(ctx: NemesisContext, except: string[]): string[] {
  return ctx.cluster.ids.filter((id) => !except.includes(id));
}

function record<T>(ctx: NemesisContext, kind: string, target: string, body: () => Promise<T>): Promise<T> {
  ctx.recorder.fault(kind, 'start', target);
  ctx.log(`fault start ${kind} ${target}`);
  return body().finally(() => {
    ctx.recorder.fault(kind, 'stop', target);
    ctx.log(`fault stop  ${kind} ${target}`);
  });
}

/**
 * C1 / C2 (NATS pause-kill, part-kill): fault minority A; writes; power-loss X in the majority;
 * fault the rest of the majority and free A, so the new majority is A + X; wait; free everyone.
 */
async function pauseOrPartKill(ctx: NemesisContext, how: 'pause' | 'partition'): Promise<void> {
  const all = ctx.cluster.ids;
  const leader = await leaderOr(ctx);
  const leaderInA = ctx.rng.next() < 0.5;
  const pool = ctx.rng.sample(ids(ctx, [leader]), all.length - 1);
  const a = leaderInA
    ? [leader, ...pool.slice(0, minoritySize(all.length) - 1)]
    : pool.slice(0, minoritySize(all.length));
  const majority = ids(ctx, a);
  const x = ctx.rng.pick(majority);
  const rest = majority.filter((id) => id !== x);
  const c = ctx.cluster;
  const isolate = (group: string[]): void => c.peers.partition([group, ids(ctx, group)]);
  await record(ctx, how, `A:${a.join(',')}`, async () => {
    if (how === 'pause') await Promise.all(a.map((id) => c.pause(id)));
    else isolate(a);
    await sleep(ctx.rng.between(2_000, 6_000), ctx.stop);
    await record(ctx, 'power', `X:${x}`, async () => {
      await c.powerLoss(x);
      await sleep(ctx.rng.between(200, 1_000), ctx.stop);
      if (how === 'pause') {
        await Promise.all(rest.map((id) => c.pause(id)));
        await Promise.all(a.map((id) => c.resume(id)));
      } else isolate(rest);
      c.start(x);
    });
    await sleep(ctx.rng.between(3_000, 6_000), ctx.stop);
  });
  await c.heal();
}

const schedules: Record<ScheduleName, Schedule> = {
  C1: { round: (ctx) => pauseOrPartKill(ctx, 'pause'), kinds: ['pause', 'power'] },
  C2: { round: (ctx) => pauseOrPartKill(ctx, 'partition'), kinds: ['partition', 'power'] },
  // Coordinated power loss of every node during heavy traffic (NATS, etcd #14139).
  C3: { round: (ctx) => powerEpisode(ctx, 'all'), kinds: ['power'], quietMs: [4_000, 8_000] },
  C4: {
    kinds: ['disk', 'kill'],
    round: async (ctx) => {
      const minority = ctx.rng.sample(ctx.cluster.ids, Math.max(1, minoritySize(ctx.cluster.ids.length)));
      await corruptEpisode(ctx, minority);
      for (const id of ids(ctx, minority)) {
        if (ctx.stop.aborted) break;
        await record(ctx, 'kill', `remaining:${id}`, async () => {
          await ctx.cluster.kill(id);
          await sleep(ctx.rng.between(300, 1_500), ctx.stop);
          ctx.cluster.start(id);
        });
        await sleep(ctx.rng.between(1_000, 2_000), ctx.stop);
      }
    },
  },
  // Membership churn + kills, for a long time (Redpanda): lib/membership.ts.
  C5: { kinds: ['member', 'kill'], round: churnRound },
  C6: {
    kinds: ['pause', 'kill'],
    round: async (ctx) => {
      await Promise.all([pauseEpisode(ctx), sleep(ctx.rng.between(0, 800)).then(() => killEpisode(ctx, 'follower'))]);
    },
  },
  // The leader crashes right after appending, again and again (etcd #13766 / #14370).
  C7: {
    kinds: ['kill'],
    round: async (ctx) => {
      for (let i = 0; i < 5 && !ctx.stop.aborted; i += 1) {
        const leader = (await ctx.cluster.leader())?.id;
        if (leader === undefined) {
          await sleep(200, ctx.stop);
          continue;
        }
        await record(ctx, 'kill', `leader:${leader}`, async () => {
          await ctx.cluster.kill(leader);
          ctx.cluster.start(leader);
        });
        await sleep(ctx.rng.between(ctx.electionMs, 3 * ctx.electionMs), ctx.stop);
      }
    },
  },
  // The leader cut off from its peers while clients still reach it (stale reads / leases on both sides).
  C8: { kinds: ['partition'], round: (ctx) => partitionEpisode(ctx, 'isolate-leader', ctx.rng.between(2_000, 6_000)) },
  C9: {
    kinds: ['clock', 'pause'],
    round: async (ctx) => {
      const leader = await leaderOr(ctx);
      await Promise.all([
        clockEpisode(ctx, ctx.rng.pick(['leader', 'strobe'])),
        sleep(ctx.rng.between(0, 500)).then(() =>
          pauseEpisode(ctx, 'leader', ctx.leaseMs + ctx.rng.between(500, 2_000)),
        ),
      ]);
      void leader;
    },
  },
  C10: {
    kinds: ['partition', 'kill'],
    round: async (ctx) => {
      await Promise.all([
        messageEpisode(ctx),
        sleep(ctx.rng.between(200, 1_000)).then(() => killEpisode(ctx, 'leader')),
      ]);
    },
  },
  C11: {
    kinds: ['snapshot', 'partition'],
    snapshotEveryEntries: 50,
    round: async (ctx) => {
      await snapshotEpisode(ctx);
      await sleep(ctx.rng.between(500, 1_500), ctx.stop);
      const lagging = await followerOf(ctx);
      await record(ctx, 'partition', `lagging:${lagging}`, async () => {
        ctx.cluster.peers.isolate(lagging);
        await sleep(ctx.rng.between(1_500, 3_000), ctx.stop);
        ctx.cluster.peers.heal();
      });
    },
  },
  // Remove the leader + partition the removed node + heal (NATS #8353, RemovePartitionedNode).
  C12: { kinds: ['member', 'partition'], round: removeLeaderRound },
  // Everything at once, rotating subsets: a process fault with a network, clock or disk fault.
  C13: {
    kinds: ['kill', 'pause', 'partition', 'power', 'clock', 'disk'],
    snapshotEveryEntries: 200,
    round: async (ctx) => {
      const processFault = ctx.rng.pick<NemesisKind>(['kill', 'pause', 'power', 'snapshot']);
      const other = ctx.rng.pick<NemesisKind>(['partition', 'clock', 'disk']);
      await Promise.all([
        episodes[processFault](ctx),
        sleep(ctx.rng.between(0, 1_000)).then(() => episodes[other](ctx)),
      ]);
    },
  },
};

export function namedSchedule(name: string): Schedule {
  const s = schedules[name as ScheduleName];
  if (s === undefined) throw new Error(`unknown schedule ${name}; known: ${scheduleNames.join(', ')}`);
  return s;
}

/** Parses `kill,pause,...` or `all`. */
export function parseNemeses(spec: string): NemesisKind[] {
  if (spec === 'all') return [...nemesisKinds];
  const out: NemesisKind[] = [];
  for (const part of spec.split(',').map((s) => s.trim())) {
    if (!(nemesisKinds as readonly string[]).includes(part))
      throw new Error(`unknown nemesis ${part}; known: ${nemesisKinds.join(', ')}, all`);
    out.push(part as NemesisKind);
  }
  if (out.length === 0) throw new Error('no nemesis given');
  return out;
}

/** Rotates through `kinds` (each pass in a seeded order). */
export function rotation(kinds: NemesisKind[]): Schedule {
  let queue: NemesisKind[] = [];
  return {
    kinds: [...kinds],
    ...(kinds.includes('snapshot') ? { snapshotEveryEntries: 50 } : {}),
    round: async (ctx) => {
      if (queue.length === 0) queue = ctx.rng.sample(kinds, kinds.length);
      await episodes[queue.shift()!](ctx);
    },
  };
}

/** Runs rounds until the phase ends, with quiet periods between them; returns the rounds run. */
export async function runSchedule(ctx: NemesisContext, s: Schedule, quietMs: [number, number]): Promise<number> {
  let rounds = 0;
  await sleep(ctx.rng.between(...quietMs), ctx.stop);
  while (!ctx.stop.aborted) {
    await s.round(ctx);
    rounds += 1;
    await sleep(ctx.rng.between(...quietMs), ctx.stop);
  }
  return rounds;
}
