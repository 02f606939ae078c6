// The console's data (src/node/console/console-data.ts) on an in-process state machine: each
// member's own facts come from its Status answer (fresh ones only; a member that does not answer is
// unknown), and a queue's per-key usage is listed by the `keys` read.
import { describe, expect, it } from 'vitest';
import { ConsoleData } from '../../../src/node/console/console-data.js';
import type { MemberStatusSource } from '../../../src/node/console/member-status.js';
import type { KeyPage } from '../../../src/protocol/commands.js';
import type { NodeStatus } from '../../../src/rpc/executor.js';
import { MachineExecutor } from '../client/machine-executor.js';

/** A three-member view: this node n1 leads, n2 and n3 at their client addresses. */
class ThreeMembers extends MachineExecutor {
  override status(): NodeStatus {
    const st = super.status();
    const fsync = { writes: 4, p50Ms: 1.5, p99Ms: 3, maxMs: 3, windowMs: 60_000 };
    return {
      ...st,
      fsync,
      members: [
        ...st.members,
        { id: 'n2', address: 'a2', role: 'follower', term: 1, commitIndex: 0, appliedIndex: 0, matchIndex: 3 },
        { id: 'n3', address: 'a3', role: 'follower', term: 1, commitIndex: 0, appliedIndex: 0, matchIndex: 1 },
      ],
    };
  }
}

const one = (cmd: unknown) => [{ session: null, seq: 0, cmd }] as never;

describe('console data', () => {
  it("shows each member's own term, indexes, fsync and recovery from its Status answer, or unknown", async () => {
    let now = 1_000;
    const asked: string[] = [];
    const answers: Record<string, unknown> = {
      a2: {
        id: 'n2',
        term: 7,
        commitIndex: 40,
        appliedIndex: 39,
        fsync: { writes: 12, p50Ms: 0.8, p99Ms: 9.5, maxMs: 11, windowMs: 60_000 },
        recovering: { index: 50, term: 6 },
      },
      a3: new Error('unreachable'),
    };
    const members: MemberStatusSource = {
      status: async ({ address }) => {
        asked.push(address);
        const a = answers[address];
        if (a instanceof Error) throw a;
        return a;
      },
      close: () => undefined,
    };
    const data = new ConsoleData({ executor: new ThreeMembers(), members, now: () => now });
    const first = data.cluster(); // starts the poll; nothing known yet
    expect(first.members.map((m) => [m.id, m.term, m.known])).toEqual([
      ['n1', 1, true],
      ['n2', null, false],
      ['n3', null, false],
    ]);
    expect(first.members[0]?.fsync).toEqual({ writes: 4, p50Ms: 1.5, p99Ms: 3, maxMs: 3, windowMs: 60_000 });
    await new Promise((r) => setImmediate(r));
    expect(asked.sort()).toEqual(['a2', 'a3']);
    const [, n2, n3] = data.cluster().members;
    expect(n2).toMatchObject({ term: 7, commitIndex: 40, appliedIndex: 39, known: true });
    expect(n2?.fsync).toEqual({ writes: 12, p50Ms: 0.8, p99Ms: 9.5, maxMs: 11, windowMs: 60_000 });
    expect(n2?.recovering).toEqual({ index: 50, term: 6 });
    expect(n3).toMatchObject({ term: null, fsync: null, recovering: null, known: false });
    // Polled at most once a second; an answer older than 5 s is no longer shown.
    data.cluster();
    expect(asked.length).toBe(2);
    answers['a2'] = new Error('gone');
    now += 5_500;
    data.cluster();
    await new Promise((r) => setImmediate(r));
    expect(asked.length).toBe(4);
    expect(data.cluster().members[1]).toMatchObject({ term: null, fsync: null, known: false });
  });

  it("ignores an answer from another node at a member's address", async () => {
    const members: MemberStatusSource = {
      status: async () => ({ id: 'someone-else', term: 3, commitIndex: 1, appliedIndex: 1 }),
      close: () => undefined,
    };
    const data = new ConsoleData({ executor: new ThreeMembers(), members });
    data.cluster();
    await new Promise((r) => setImmediate(r));
    expect(data.cluster().members.map((m) => m.term)).toEqual([1, null, null]);
  });

  it("lists a queue's limit keys with their usage", async () => {
    const ex = new ThreeMembers();
    const deadline = performance.now() + 5_000;
    await ex.execute(one({ type: 'createQueue', queue: 'k', settings: { keyLimits: { concurrency: 1 } } }), {
      deadline,
    });
    const tasks = ['a', 'a', 'b'].map((key) => ({ payload: new Uint8Array([1]), key }));
    expect((await ex.execute(one({ type: 'enqueue', queue: 'k', tasks }), { deadline })).answers[0]?.ok).toBe(true);
    await ex.execute(one({ type: 'lease', queue: 'k', workerId: 'w', max: 2 }), { deadline });
    const data = new ConsoleData({ executor: ex });
    const r = await data.keys('k', undefined, 100);
    expect(r.stale).toBe(false);
    const page = (r.answer.ok ? r.answer.value : null) as KeyPage;
    // '' stands for the tasks without a key (none here; exempt from key limits).
    expect(page.items.map((k) => [k.key, k.leased, k.waiting, k.concurrency])).toEqual([
      ['', 0, 0, null],
      ['a', 1, 1, 1],
      ['b', 1, 0, 1],
    ]);
    expect((await data.keys('nope', undefined, 10)).answer).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });
  it('records each leader change the node reports, from its view when it starts following', () => {
    let now = 5_000;
    const view: { leader: string | null; term: number } = { leader: 'n1', term: 1 };
    class Following extends ThreeMembers {
      override status(): NodeStatus {
        return { ...super.status(), ...view };
      }
    }
    let watcher: ((leader: string | null, term: number) => void) | null = null;
    const report = (leader: string | null, term: number): void => {
      Object.assign(view, { leader, term });
      watcher?.(leader, term);
    };
    const data = new ConsoleData({
      executor: new Following(),
      now: () => now,
      watchLeader: (cb) => {
        watcher = cb;
        return () => (watcher = null);
      },
    });
    const unfollow = data.follow();
    const changes = () => data.cluster().leaderChanges.map((c) => [c.at, c.term, c.leader]);
    expect(changes()).toEqual([[5_000, 1, 'n1']]);
    now = 6_000;
    report(null, 2); // the leader lost: recorded once, not again for each leaderless term
    report(null, 3);
    now = 6_500;
    report('n2', 3);
    now = 6_600;
    report('n3', 4); // a change no one read the console between: still recorded, at its time
    now = 9_000;
    expect(changes()).toEqual([
      [5_000, 1, 'n1'],
      [6_000, 2, null],
      [6_500, 3, 'n2'],
      [6_600, 4, 'n3'],
    ]);
    unfollow();
    expect(watcher).toBeNull();
  });
});
