// A member's own status over the peer port (issue 15): the console of one node asks the others for
// their term, indexes and fsync latency on ClientForward.Status under the cluster secret — never on
// the client port, where client auth would need a token the node does not hold. Real gRPC on
// 127.0.0.1: the answer is the member's own; another secret, or a wrong addressee, gets nothing.
import { afterEach, describe, expect, it } from 'vitest';
import type { ReadAnswer } from '../../src/protocol/commands.js';
import { MemberStatuses, peerMemberStatus } from '../../src/node/console/member-status.js';
import type { ClientExecutor, ExecuteResult, NodeStatus } from '../../src/rpc/executor.js';
import { ForwardError, GrpcForwardLink } from '../../src/rpc/forward-link.js';
import { createForwardService } from '../../src/rpc/forward-server.js';
import { decodeMemberStatus, encodeMemberStatus } from '../../src/rpc/member-status-codec.js';
import type { PeerAuth } from '../../src/rpc/peer-auth.js';
import { PeerServer } from '../../src/rpc/peer-server.js';
import { encode } from '../../src/protocol/codec.js';

const AUTH: PeerAuth = { secret: Buffer.from('the-cluster-secret-0123456789abcdef'), clusterId: 'c-one' };
const FSYNC = { writes: 9, p50Ms: 0.7, p99Ms: 4.5, maxMs: 5, windowMs: 60_000 };

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** A member that knows its own status (fsync included) and runs nothing else. */
class Member implements ClientExecutor {
  asked = 0;
  async execute(): Promise<ExecuteResult> {
    throw new Error('not here');
  }
  async read(): Promise<ReadAnswer> {
    throw new Error('not here');
  }
  status(): NodeStatus {
    this.asked += 1;
    return {
      id: 'n2',
      clusterId: 'c-one',
      leader: 'n1',
      leaderAddress: null,
      role: 'follower',
      term: 4,
      commitIndex: 30,
      appliedIndex: 29,
      ready: true,
      members: [],
      fsync: FSYNC,
    };
  }
  subscribe(): () => void {
    return () => undefined;
  }
  onStepDown(): () => void {
    return () => undefined;
  }
}

async function memberPort(): Promise<{ member: Member; address: string }> {
  const member = new Member();
  const service = createForwardService({ selfId: 'n2', executor: member, auth: AUTH });
  const server = await PeerServer.start({
    address: '127.0.0.1:0',
    selfId: 'n2',
    auth: AUTH,
    onMessage: () => undefined,
    services: [service],
  });
  cleanup.push(() => server.close(100));
  return { member, address: server.address };
}

function link(address: string, auth: PeerAuth | null, to = 'n2'): GrpcForwardLink {
  const l = new GrpcForwardLink({ selfId: 'n1', peers: new Map([[to, address]]), auth });
  cleanup.push(() => l.close());
  return l;
}

describe('member status over the peer port', () => {
  it("gives the console the member's own term, indexes and fsync latency, under the cluster secret", async () => {
    const { member, address } = await memberPort();
    const src = peerMemberStatus(link(address, AUTH));
    expect(await src.status({ id: 'n2', address: '' }, 2_000)).toEqual({
      id: 'n2',
      term: 4,
      commitIndex: 30,
      appliedIndex: 29,
      fsync: FSYNC,
      recovering: null,
    });
    // Through the console's poller: known, with its fsync figures.
    const statuses = new MemberStatuses(src, () => Date.now());
    statuses.poll([{ id: 'n2', address: '' }]);
    await expect.poll(() => statuses.get('n2'), { timeout: 5_000, interval: 20 }).not.toBeNull();
    expect(statuses.get('n2')).toEqual({ term: 4, commitIndex: 30, appliedIndex: 29, fsync: FSYNC, recovering: null });
    expect(member.asked).toBe(2);
  });

  it('refuses a request under another secret, or without one, and one addressed to another node', async () => {
    const { member, address } = await memberPort();
    const other = { ...AUTH, secret: Buffer.from('another-secret-of-the-right-length') };
    for (const auth of [other, null]) {
      const err = await peerMemberStatus(link(address, auth))
        .status({ id: 'n2', address: '' }, 2_000)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ForwardError);
      expect((err as ForwardError).message).toMatch(/UNAUTHENTICATED/);
    }
    const misaddressed = await peerMemberStatus(link(address, AUTH, 'n3'))
      .status({ id: 'n3', address: '' }, 2_000)
      .catch((e: unknown) => e);
    expect((misaddressed as ForwardError).message).toMatch(/INVALID_ARGUMENT: addressed to n3/);
    expect(member.asked).toBe(0);
  });

  it('decodes only a msgpack map; anything else is unknown, never a throw', () => {
    expect(decodeMemberStatus(encodeMemberStatus(new Member().status()))?.['fsync']).toEqual(FSYNC);
    for (const bytes of [new Uint8Array([0xc1]), encode([1, 2]), encode('x'), new Uint8Array(0)])
      expect(decodeMemberStatus(bytes)).toBeNull();
  });
});
