// Membership on a running cluster with real processes (issue 16): grow 3 → 5 with --join under
// producer load and shrink back (removing the leader among others), replace a node whose data dir
// was wiped, and every refusal as a typed error. The load's history (enqueues, leases with their
// fencing tokens, acks, nacks, late acks, final reads through each node, digests) is judged by the
// history checker (checked-load.ts): any violation fails the test.
import { readFileSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { MEMBERS_ERROR_CODES } from '../../src/node/admin-members.js';
import { assertDigestsAgree, httpJson, statusOf, waitFor, waitForLeader } from './helpers.js';
import { CheckedLoad } from './checked-load.js';
import { members, startGrowable, waitVoters, type GrowCluster } from './members-helpers.js';
import { runRaftq, waitApplied, waitLine } from './node-helpers.js';

const operations = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
let tc: GrowCluster | null = null;
const clients: Client[] = [];
const loads: CheckedLoad[] = [];
afterEach(async () => {
  for (const l of loads.splice(0)) await l.stop();
  for (const c of clients.splice(0)) await c.close({ timeoutMs: 2_000 }).catch(() => undefined);
  await tc?.cleanup();
  tc = null;
});

function track(l: CheckedLoad): CheckedLoad {
  loads.push(l);
  return l;
}

function client(servers: string[]): Client {
  const c = new Client({ servers, timeoutMs: 30_000 });
  clients.push(c);
  return c;
}

describe('membership changes under load', () => {
  it('grows 3 → 5 with --join and shrinks back to 3, removing the leader too: nothing lost', async () => {
    // docs/operations.md shows these commands; this test runs them.
    for (const cmd of ['--join 10.0.0.1:8001,', 'raftq members remove n5', '--join-as learner', 'raftq members list'])
      expect(operations).toContain(cmd);
    tc = await startGrowable(5, 3);
    const c = tc.cluster;
    await waitForLeader(c);
    const load = track(await CheckedLoad.start(c.servers, { queue: 'grow', seed: 1601 }));
    await load.progress(50);

    tc.startJoiner('n4');
    await waitVoters(c, ['n1', 'n2', 'n3', 'n4'], ['n1', 'n2', 'n3', 'n4']);
    await load.progress(50);
    tc.startJoiner('n5');
    const five = ['n1', 'n2', 'n3', 'n4', 'n5'];
    await waitVoters(c, five, five);
    await load.progress(50);
    // The newcomers were learners first: added, then promoted once caught up.
    const changes = [...tc.lines.values()].flat().filter((l) => l.includes('membership change proposed'));
    expect(changes.filter((l) => l.includes('"addLearner"')).length).toBe(2);
    expect(changes.filter((l) => l.includes('"promote"')).length).toBe(2);
    const leader = await waitForLeader(c);
    const list = await runRaftq(['members', 'list', '--servers', c.servers.join(','), '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { members: { id: string }[] }).members.map((m) => m.id).sort()).toEqual(five);

    // Shrink: a follower, then the leader (it hands leadership over first).
    const follower = five.find((id) => id !== leader && id !== 'n5') as string;
    const r1 = await members(tc, ['remove', follower]);
    expect(r1.code, r1.stderr).toBe(0);
    await c.signal(follower, 'SIGTERM');
    const r2 = await members(tc, ['remove', leader]);
    expect(r2.code, r2.stderr).toBe(0);
    await c.signal(leader, 'SIGTERM');
    const rest = five.filter((id) => id !== follower && id !== leader);
    await waitVoters(c, rest, rest);
    await load.progress(50);

    const verdict = await load.finish(c, rest);
    expect(verdict.status, load.report()).toBe('pass');
    // No enqueue was refused for good through the changes (an unknown outcome, retried, is fine).
    expect(verdict.stats.byKind['enqueue']?.fail ?? 0, load.report()).toBe(0);
    expect(load.acknowledged).toBeGreaterThan(250);
    expect(verdict.stats.completed).toBeGreaterThan(100);
    const st = await statusOf(c, rest[0] as string);
    await waitApplied(c, rest, st?.commitIndex ?? 0);
    expect(await assertDigestsAgree(c, rest)).toBeGreaterThan(0);
  });

  it('replaces a node whose data dir was wiped by a new member (members replace): nothing lost', async () => {
    expect(operations).toContain('raftq members replace n3 n6 --address 10.0.0.3:7001 --peer-address 10.0.0.3:7101');
    tc = await startGrowable(4, 3, { snapshotEveryEntries: 200 });
    const c = tc.cluster;
    const leader = await waitForLeader(c);
    await waitFor(
      async () => ((await statusOf(c, leader))?.members.every((m) => m.address !== '') ? true : undefined),
      10_000,
      'the bootstrap membership to be bound',
    );
    const load = track(await CheckedLoad.start(c.servers, { queue: 'replace', seed: 1602 }));
    await load.progress(50);
    // Past two snapshots (every 200 entries): the newcomer catches up from one.
    await waitFor(
      async () => (((await statusOf(c, leader))?.commitIndex ?? 0) > 400 ? true : undefined),
      60_000,
      'the commit index past two snapshots',
    );
    const wiped = tc.founders.find((id) => id !== leader) as string;
    await c.kill(wiped);
    rmSync(c.spec(wiped).dataDir, { recursive: true, force: true });
    c.start(wiped);
    await waitLine(tc, leader, /storage id does not match the membership/, 15_000);

    // The new member joins as a learner; replace promotes it once caught up (whichever of the join
    // and replace's own add comes first), then removes the wiped identity.
    tc.startJoiner('n4', ['--join-as', 'learner']);
    const s4 = c.spec('n4');
    const r = await members(tc, [
      'replace',
      wiped,
      'n4',
      '--address',
      `127.0.0.1:${s4.clientPort}`,
      '--peer-address',
      `127.0.0.1:${s4.peerPort}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${wiped} replaced by n4`);
    await c.kill(wiped);
    const now = ['n1', 'n2', 'n3', 'n4'].filter((id) => id !== wiped);
    await waitVoters(c, now, now);
    await load.progress(50);
    const verdict = await load.finish(c, now);
    expect(verdict.status, load.report()).toBe('pass');
    await waitApplied(c, now, (await statusOf(c, now[0] as string))?.commitIndex ?? 0);
    expect(await assertDigestsAgree(c, now)).toBeGreaterThan(0);
  });
});

describe('a wiped member under its old id', () => {
  it('started with --join, waits (ID_EXISTS) until the old identity is removed, then joins anew', async () => {
    tc = await startGrowable(3, 3);
    const c = tc.cluster;
    const leader = await waitForLeader(c);
    await waitFor(
      async () => ((await statusOf(c, leader))?.members.every((m) => m.address !== '') ? true : undefined),
      10_000,
      'the bootstrap membership to be bound',
    );
    const load = track(await CheckedLoad.start(c.servers, { queue: 'rejoin', seed: 1603 }));
    await load.progress(50);
    const x = tc.founders.find((id) => id !== leader) as string;
    await c.kill(x);
    rmSync(c.spec(x).dataDir, { recursive: true, force: true });
    tc.startJoiner(x);
    await waitLine(tc, x, /waiting until an operator removes the old identity/);
    const r = await members(tc, ['remove', x]);
    expect(r.code, r.stderr).toBe(0);
    await waitLine(tc, x, /joined the cluster: a voter/, 30_000);
    await waitVoters(c, tc.founders, tc.founders);
    await load.progress(50);
    const verdict = await load.finish(c, tc.founders);
    expect(verdict.status, load.report()).toBe('pass');
    // The checker is not blind to this history: one ack undone on one node is a violation.
    const doctored = load.verdictWithAckUndone(x);
    expect(doctored.status).toBe('fail');
    expect(doctored.checks.noAckLost.valid).toBe(false);
    await waitApplied(c, tc.founders, (await statusOf(c, leader))?.commitIndex ?? 0);
    expect(await assertDigestsAgree(c, tc.founders)).toBeGreaterThan(0);
  });
});

describe('refusals', () => {
  it('answers each unsafe or impossible request with a typed error', async () => {
    expect(operations).toContain('raftq members add n4 --address 10.0.0.4:7001 --peer-address 10.0.0.4:7101');
    expect(operations).toContain('raftq members promote n4 --wait-ms 30000');
    // Every code the docs' table lists is one the admin routes answer.
    for (const code of MEMBERS_ERROR_CODES)
      if (code !== 'INVALID_ARGUMENT') expect(operations).toContain(`\`${code}\``);
    // Election timeout 2-4 s: the CHANGE_IN_PROGRESS step below must ask before the leader, its
    // quorum stopped, steps down.
    tc = await startGrowable(4, 3, { electionTicks: 40 });
    const c = tc.cluster;
    const leader = await waitForLeader(c);
    const [follower, other] = tc.founders.filter((id) => id !== leader) as [string, string];
    const s4 = c.spec('n4');
    const where = ['--address', `127.0.0.1:${s4.clientPort}`, '--peer-address', `127.0.0.1:${s4.peerPort}`];
    const refused = async (args: string[], t: GrowCluster = tc as GrowCluster): Promise<string> => {
      const r = await members(t, args);
      expect(r.code, r.stdout).toBe(1);
      return r.stderr.trim();
    };

    expect(await refused(['add', follower, ...where])).toBe(
      `raftq: ID_EXISTS: ${follower} is already a member: remove it first, or pick another id`,
    );
    expect(await refused(['remove', 'n9'])).toBe('raftq: NO_SUCH_MEMBER: n9 is not a member');
    expect(await refused(['promote', follower])).toBe(`raftq: NOT_A_LEARNER: ${follower} is already a voter`);
    // Only the leader changes the membership (given one follower's address, the CLI cannot go on).
    const onFollower = { ...tc, admin: () => (tc as GrowCluster).admin([follower]) };
    expect(await refused(['remove', other, '--timeout-ms', '1000'], onFollower)).toMatch(
      new RegExp(`^raftq: NOT_LEADER: ${follower} is not the leader \\(leader: ${leader}\\)`),
    );

    // Removing a voter when the remaining reachable voters are no majority (one of them is down).
    await c.kill(follower);
    await waitFor(
      async () => {
        const v = await httpJson<{ members: { id: string; active: boolean }[] }>(
          c.spec(leader).httpPort,
          '/admin/members',
        );
        return v.members.find((m) => m.id === follower)?.active === false ? true : undefined;
      },
      10_000,
      `the leader to notice ${follower} is gone`,
    );
    expect(await refused(['remove', other])).toBe(
      `raftq: NO_QUORUM: removing ${other} would leave 1 reachable voters of 2 (${leader}), fewer than the 2 a majority needs`,
    );
    c.start(follower);
    await waitForLeader(c);

    // A learner added by an operator is not promoted before the leader heard from it (not running).
    const added = await members(tc, ['add', 'n4', ...where]);
    expect(added.code, added.stderr).toBe(0);
    expect(await refused(['promote', 'n4'])).toBe(
      'raftq: NOT_HEARD_FROM: the leader has not heard from n4 yet (is it running?)',
    );
    // A learner that lags: n4 runs (joining as a learner), then is stopped while writes commit.
    tc.startJoiner('n4', ['--join-as', 'learner']);
    await waitLine(tc, 'n4', /joined the cluster: a learner/);
    await c.signal('n4', 'SIGSTOP');
    const w = client(c.servers.slice(0, 3));
    for (let i = 0; i < 10; i++) await w.queue<{ i: number }>('lag').enqueue({ i });
    expect(await refused(['promote', 'n4'])).toMatch(
      /^raftq: LEARNER_LAGGING: n4 has replicated up to \d+, behind the commit index \d+ \(waited 0 ms; pass a longer --wait-ms\)$/,
    );
    await c.signal('n4', 'SIGCONT');
    const promoted = await members(tc, ['promote', 'n4', '--wait-ms', '20000']);
    expect(promoted.code, promoted.stderr).toBe(0);

    // A second change while one is not committed: two voters of four stopped, so the first (adding
    // a learner, which samples no quorum) hangs. The second would leave one reachable voter of three:
    // it is refused before any quorum sampling (which could outlast the leader, stepping down).
    await c.signal(follower, 'SIGSTOP');
    await c.signal(other, 'SIGSTOP');
    const post = (path: string, body: object): Promise<Response> =>
      fetch(`http://127.0.0.1:${c.spec(leader).httpPort}/admin/members/${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
      });
    const first = post('add', { id: 'n5', address: '127.0.0.1:1', peerAddress: '127.0.0.1:2' }).catch(() => null);
    await waitFor(
      async () => ((await statusOf(c, leader))?.members.some((m) => m.id === 'n5') === true ? true : undefined),
      10_000,
      'the addition to be appended on the leader',
      5,
    );
    // Once the leader marks both inactive (its next check-quorum round), it has about one election
    // timeout (2 s) before it steps down: the refusal must come at once, not after quorum sampling.
    await waitFor(
      async () => {
        const v = await httpJson<{ members: { id: string; active: boolean }[] }>(
          c.spec(leader).httpPort,
          '/admin/members',
        );
        return v.members.filter((m) => m.id === follower || m.id === other).every((m) => !m.active) ? true : undefined;
      },
      10_000,
      'the leader to mark both stopped voters inactive',
      5,
    );
    const second = await post('remove', { id: 'n4' });
    expect([second.status, await second.json()]).toEqual([
      409,
      { ok: false, code: 'CHANGE_IN_PROGRESS', message: 'another membership change is not committed yet' },
    ]);
    await c.signal(follower, 'SIGCONT');
    await c.signal(other, 'SIGCONT');
    await first;
  });

  it('refuses to remove the last voter', async () => {
    tc = await startGrowable(1, 1);
    await waitForLeader(tc.cluster);
    const r = await members(tc, ['remove', 'n1']);
    expect([r.code, r.stderr.trim()]).toEqual([1, 'raftq: LAST_VOTER: n1 is the last voter: a cluster needs one']);
  });

  it('a node of another cluster cannot join, and says so', async () => {
    tc = await startGrowable(4, 3);
    const c = tc.cluster;
    await waitForLeader(c);
    const line = await startForeignJoiner(tc);
    expect(line).toMatch(/CLUSTER_MISMATCH: cluster id \\"another-cluster\\" is not this cluster's/);
    expect((await statusOf(c, tc.founders[0] as string))?.members.map((m) => m.id)).not.toContain('n4');
  });
});

/** Starts n4 with --join and another cluster id; resolves with its refusal log line. */
async function startForeignJoiner(t: GrowCluster): Promise<string> {
  const s = t.cluster.spec('n4');
  const { spawn } = await import('node:child_process');
  const { RAFTQ_BIN } = await import('../../src/node/local-cluster.js');
  const args = [
    'start',
    '--id',
    'n4',
    '--listen',
    `127.0.0.1:${s.clientPort}`,
    '--peer-listen',
    `127.0.0.1:${s.peerPort}`,
  ];
  args.push('--data-dir', `${s.dataDir}-foreign`, '--cluster-id', 'another-cluster', '--join', t.admin(t.founders));
  const child = spawn(process.execPath, [RAFTQ_BIN, ...args, '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  try {
    return await waitFor(
      () => out.split('\n').find((l) => /refused to add this node/.test(l)),
      20_000,
      'the refusal',
    ).catch((err: Error) => {
      throw new Error(`${err.message}; output: ${out.slice(-2000)}`);
    });
  } finally {
    child.kill('SIGKILL');
  }
}
