// The ClientForward peer service over real gRPC on 127.0.0.1 (issue 18): a follower's link reaches
// the leader's peer port, the leader runs the commands on its own executor with the session stamps
// they came with and the budget they had, and answers; a link with another cluster secret, or a
// request addressed to another node, is refused before anything runs (a refusal: nothing applied).
import { afterEach, describe, expect, it } from 'vitest';
import type { Answer, ReadAnswer, ReadQuery, SessionCommand } from '../../src/protocol/commands.js';
import type { ClientExecutor, ExecuteOptions, ExecuteResult, NodeStatus } from '../../src/rpc/executor.js';
import {
  decodeExecuteResult,
  decodeReadAnswer,
  encodeExecuteBody,
  encodeReadBody,
} from '../../src/rpc/forward-codec.js';
import { ForwardError, GrpcForwardLink } from '../../src/rpc/forward-link.js';
import { createForwardService } from '../../src/rpc/forward-server.js';
import type { PeerAuth } from '../../src/rpc/peer-auth.js';
import { PeerServer } from '../../src/rpc/peer-server.js';
import { asLogIndex } from '../../src/protocol/ids.js';
import { freePorts } from '../../src/node/free-ports.js';

const AUTH: PeerAuth = { secret: Buffer.from('the-cluster-secret-0123456789abcdef'), clusterId: 'c-one' };

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** The leader's executor: records what it ran and with which options. */
class Leader implements ClientExecutor {
  readonly ran: { cmds: SessionCommand[]; opts: ExecuteOptions }[] = [];
  readonly reads: ReadQuery[] = [];
  async execute(cmds: SessionCommand[], opts: ExecuteOptions): Promise<ExecuteResult> {
    this.ran.push({ cmds, opts });
    return {
      answers: cmds.map((c): Answer => ({ ok: true, value: { seq: c.seq } })),
      index: asLogIndex(11),
      heldMs: 0,
    };
  }
  async read(query: ReadQuery): Promise<ReadAnswer> {
    this.reads.push(query);
    return { asOf: { index: 11, mono: 5, wall: 6 }, answer: { ok: true, value: { queues: [] } } };
  }
  status(): NodeStatus {
    return { leader: 'n2' } as NodeStatus;
  }
  subscribe(): () => void {
    return () => undefined;
  }
  onStepDown(): () => void {
    return () => undefined;
  }
}

async function leaderPort(): Promise<{ leader: Leader; address: string }> {
  const leader = new Leader();
  const service = createForwardService({ selfId: 'n2', executor: leader, auth: AUTH });
  const server = await PeerServer.start({
    address: '127.0.0.1:0',
    selfId: 'n2',
    auth: AUTH,
    onMessage: () => undefined,
    services: [service],
  });
  cleanup.push(() => server.close(100));
  return { leader, address: server.address };
}

function link(address: string, auth: PeerAuth | null, to = 'n2'): GrpcForwardLink {
  const l = new GrpcForwardLink({ selfId: 'n1', peers: new Map([[to, address]]), auth });
  cleanup.push(() => l.close());
  return l;
}

const cmd: SessionCommand = {
  session: 'sess',
  seq: 4,
  floor: 2,
  cmd: { type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array(200_000).fill(7) }] },
};

describe('ClientForward over gRPC', () => {
  it('runs forwarded commands and reads on the leader with their stamps and budget, under the MAC', async () => {
    const { leader, address } = await leaderPort();
    const l = link(address, AUTH);
    const before = performance.now();
    const out = await l.send('Execute', 'n2', encodeExecuteBody({ cmds: [cmd], budgetMs: 3_000, maxHoldMs: 0 }), 5_000);
    const result = decodeExecuteResult(out, 1);
    expect(result.ok && result.value).toEqual({ answers: [{ ok: true, value: { seq: 4 } }], index: 11, heldMs: 0 });
    expect(leader.ran.map((r) => r.cmds)).toEqual([[cmd]]);
    const deadline = leader.ran[0]?.opts.deadline ?? 0;
    expect(deadline).toBeGreaterThan(before + 2_900);
    expect(deadline).toBeLessThanOrEqual(performance.now() + 3_000);

    const read = await l.send('Read', 'n2', encodeReadBody({ query: { type: 'queues' }, budgetMs: 1_000 }), 2_000);
    expect(decodeReadAnswer(read).ok).toBe(true);
    expect(leader.reads).toEqual([{ type: 'queues' }]);
  });

  it('refuses another secret, no secret, and a request for another node, before running anything', async () => {
    const { leader, address } = await leaderPort();
    const body = encodeExecuteBody({ cmds: [cmd], budgetMs: 1_000, maxHoldMs: 0 });
    const other: PeerAuth = { secret: Buffer.from('another-secret-0123456789abcdefgh'), clusterId: 'c-one' };
    const cases: [GrpcForwardLink, string][] = [
      [link(address, other), 'n2'],
      [link(address, null), 'n2'],
      [link(address, AUTH, 'n3'), 'n3'],
    ];
    for (const [l, to] of cases) {
      const e = await l.send('Execute', to, body, 2_000).then(
        () => null,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(ForwardError);
      expect((e as ForwardError).refused, (e as Error).message).toBe(true);
    }
    expect(leader.ran).toEqual([]);
  });

  it('a leader that does not answer in time is a failure, not a refusal (outcome unknown)', async () => {
    const leader = new Leader();
    leader.execute = () => new Promise(() => undefined);
    const service = createForwardService({ selfId: 'n2', executor: leader, auth: null });
    const server = await PeerServer.start({ address: '127.0.0.1:0', onMessage: () => undefined, services: [service] });
    cleanup.push(() => server.close(100));
    const e = await link(server.address, null)
      .send('Execute', 'n2', encodeExecuteBody({ cmds: [cmd], budgetMs: 100, maxHoldMs: 0 }), 150)
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(e).toBeInstanceOf(ForwardError);
    expect((e as ForwardError).refused).toBe(false);
    expect((e as ForwardError).deadline).toBe(true);
  });

  it('a leader whose port refuses connections: once an attempt failed, calls are not sent (nothing ran)', async () => {
    const [port] = await freePorts(1); // bound, then released: nothing listens there
    const address = `127.0.0.1:${port}`;
    const l = link(address, null);
    const body = encodeExecuteBody({ cmds: [cmd], budgetMs: 1_000, maxHoldMs: 0 });
    const errors: ForwardError[] = [];
    // The first call dials (and fails: outcome unknown to the link); the channel then stays down.
    for (let i = 0; i < 20 && !errors.some((e) => e.unsent); i++) {
      const e = await l.send('Execute', 'n2', body, 2_000).then(
        () => null,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(ForwardError);
      errors.push(e as ForwardError);
    }
    expect(errors[0]?.unsent).toBe(false);
    const unsent = errors.find((e) => e.unsent);
    expect(unsent?.refused).toBe(true);
    expect(unsent?.message).toContain('not sent');
  });
});
