// The membership schedules of docs/faults.md §1.2: C5 (membership churn + kills, for a long time:
// Redpanda's lost and stale messages) and C12 (remove the leader, partition the removed node, heal:
// NATS #8353, hashicorp/raft's RemovePartitionedNode). Every round ends with the removed node wiped
// and back as a voter (`--join` under a new storage id), so that the next round, the heal and the
// final reads work on the full cluster again.
import { followerOf, leaderOr, sleep, type NemesisContext } from './nemesis.js';

function record<T>(ctx: NemesisContext, kind: string, target: string, body: () => Promise<T>): Promise<T> {
  ctx.recorder.fault(kind, 'start', target);
  ctx.log(`fault start ${kind} ${target}`);
  return body().finally(() => {
    ctx.recorder.fault(kind, 'stop', target);
    ctx.log(`fault stop  ${kind} ${target}`);
  });
}

type Role = 'voter' | 'learner' | 'absent';

/** The role of `id` in the leader's membership; undefined while no leader answers. */
async function roleOf(ctx: NemesisContext, id: string): Promise<Role | undefined> {
  const l = await ctx.cluster.leader();
  if (l?.members === undefined) return undefined;
  const m = l.members.find((x) => x.id === id);
  return m === undefined ? 'absent' : m.role === 'learner' ? 'learner' : 'voter';
}

/** Polls until `want(role)` holds (true) or `ms` pass (false). */
async function until(ctx: NemesisContext, id: string, want: (r: Role) => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const r = await roleOf(ctx, id);
    if (r !== undefined && want(r)) return true;
    await sleep(200);
  }
  return false;
}

/**
 * Whether `id` left the membership: the answer of the remove may be lost (a kill or partition during
 * the change), so the leader's membership decides, once a leader answers.
 */
async function removed(ctx: NemesisContext, id: string, answer: string): Promise<boolean> {
  const gone = await until(ctx, id, (r) => r === 'absent', answer === 'ok' ? 10_000 : 3_000);
  ctx.log(`member remove ${id}: ${answer}; ${gone ? 'out of the membership' : 'still a member'}`);
  return gone;
}

/** A kill window on `id` for 300 ms – 3 s, then restarted. */
async function killFor(ctx: NemesisContext, id: string, why: string): Promise<void> {
  await record(ctx, 'kill', `${why}:${id}`, async () => {
    await ctx.cluster.kill(id);
    await sleep(ctx.rng.between(300, 3_000), ctx.stop);
    ctx.cluster.start(id);
  });
}

/**
 * Brings a removed node back: stopped, its data dir wiped, started with --join; waits until it is a
 * voter. `duringJoin` runs once it shows up as a learner (catching up, or about to be promoted).
 */
async function rejoin(ctx: NemesisContext, id: string, duringJoin?: () => Promise<void>): Promise<void> {
  await ctx.cluster.kill(id);
  ctx.cluster.wipe(id);
  await sleep(ctx.rng.between(200, 1_000));
  ctx.cluster.start(id);
  if (duringJoin !== undefined && (await until(ctx, id, (r) => r !== 'absent', 30_000))) await duringJoin();
  // Back as a voter before the next round, so that no later round works on a smaller cluster.
  const voter = await until(ctx, id, (r) => r === 'voter', 60_000);
  ctx.log(`member ${id} rejoined: ${voter ? 'a voter' : 'not a voter yet'}`);
}

/**
 * C5, one round: a member (the leader one time in three) is removed while another node may be
 * killed mid-change; it is wiped and rejoins while the leader or the joiner itself may be killed
 * mid-catch-up or mid-promotion. Kills on a 3-node cluster shrunk to 2 voters stop progress (no
 * majority) until the restart: unavailable, never unsafe.
 */
export async function churnRound(ctx: NemesisContext): Promise<void> {
  const victim = ctx.rng.next() < 0.33 ? await leaderOr(ctx) : await followerOf(ctx);
  const others = ctx.cluster.live.filter((id) => id !== victim);
  await record(ctx, 'member', `churn:${victim}`, async () => {
    // A crash while the removal is being replicated: the leader, or the other follower.
    const killMidChange =
      ctx.rng.next() < 0.5
        ? sleep(ctx.rng.between(0, 300)).then(async () => {
            const l = (await ctx.cluster.leader())?.id;
            const k = l !== undefined && l !== victim && ctx.rng.next() < 0.5 ? l : ctx.rng.pick(others);
            await killFor(ctx, k, 'mid-remove');
          })
        : Promise.resolve();
    const [answer] = await Promise.all([ctx.cluster.removeMember(victim), killMidChange]);
    if (!(await removed(ctx, victim, answer))) {
      // Refused (no majority under the kill): the round is a kill of the victim instead.
      await killFor(ctx, victim, 'not-removed');
      return;
    }
    await rejoin(ctx, victim, async () => {
      const pick = ctx.rng.next();
      if (pick < 0.4) await killFor(ctx, (await ctx.cluster.leader())?.id ?? ctx.rng.pick(others), 'leader-mid-join');
      else if (pick < 0.7) await killFor(ctx, victim, 'joiner-mid-catch-up');
    });
  });
}

/**
 * C12, one round: the leader is removed (it hands leadership over first) and cut off from the
 * others right after, or cut off first and then removed by the majority side
 * (RemovePartitionedNode). Clients still reach it. After the heal the removed node runs for a while
 * with its stale membership (it must not disrupt the cluster: no leader change, no term churn that
 * fails the checks), then it is wiped and rejoins.
 */
export async function removeLeaderRound(ctx: NemesisContext): Promise<void> {
  const leader = await leaderOr(ctx);
  const net = ctx.cluster.peers;
  const partitionFirst = ctx.rng.next() < 0.5;
  const isolate = (): void => net.partition([[leader], ctx.cluster.ids.filter((id) => id !== leader)]);
  let gone = false;
  await record(ctx, 'member', `remove-leader:${leader}`, async () => {
    await record(ctx, 'partition', `${partitionFirst ? 'before' : 'after'}-remove:${leader}`, async () => {
      if (partitionFirst) {
        isolate();
        // The majority side elects a leader of its own before it is asked to remove the old one.
        await sleep(ctx.rng.between(ctx.electionMs, 3 * ctx.electionMs), ctx.stop);
        const majority = ctx.cluster.ids.filter((id) => id !== leader);
        gone = await removed(ctx, leader, await ctx.cluster.removeMember(leader, majority));
      } else {
        // Cut off at once: the removed node may never hear that it was removed.
        const answer = await ctx.cluster.removeMember(leader);
        isolate();
        gone = await removed(ctx, leader, answer);
      }
      await sleep(ctx.rng.between(1_000, 5_000), ctx.stop);
      net.heal();
    });
    // Healed: the removed node runs with its stale membership beside the cluster for a while. Its
    // votes or campaigns must not depose the cluster's leader (RemovePartitionedNode): logged.
    const before = await ctx.cluster.leader();
    await sleep(ctx.rng.between(ctx.electionMs, 4 * ctx.electionMs));
    const after = await ctx.cluster.leader();
    const at = (l: typeof before): string => (l === undefined ? 'none' : `${l.id} term ${l.term}`);
    ctx.log(`removed ${leader} beside the cluster after the heal: leader ${at(before)} -> ${at(after)}`);
    if (gone) await rejoin(ctx, leader);
  });
}
