// Peer authentication on real nodes (issue #14): forged TimeoutNow and Append requests (no MAC, a MAC
// under another secret, a MAC from another cluster id) sent to a follower's peer port are refused and
// counted and change nothing; the same requests with the cluster's MAC do take effect (the control
// that shows the forged ones would have).
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntryType, MessageType, type Message } from '../../src/raft/types.js';
import { peerMac, type PeerAuth } from '../../src/rpc/peer-auth.js';
import { encodeMessage, headerOf } from '../../src/rpc/peer-codec.js';
import { PEER_SERVICE } from '../../src/rpc/peer-server.js';
import { loadProtoFile } from '../../src/rpc/proto.js';
import { clusterPerFile } from '../support/cluster.js';
import { assertDigestsAgree, statusOf, waitFor } from './helpers.js';
import { asLogIndex, asTerm } from '../../src/protocol/ids.js';

const fx = clusterPerFile(3);
const methods = loadProtoFile('peer.proto')[PEER_SERVICE] as unknown as Record<
  string,
  { path: string; requestSerialize: (v: object) => Buffer; responseDeserialize: (b: Buffer) => object }
>;
const method = (name: string) => methods[name]!;

let client: grpc.Client;
let follower = '';
let auth: PeerAuth;

beforeAll(async () => {
  const file = fx.tc.cluster.clusterSecretFile;
  expect(file).not.toBeNull();
  auth = { secret: Buffer.from(readFileSync(file as string, 'utf8').trim()), clusterId: fx.tc.cluster.clusterId };
  follower = fx.tc.cluster.specs.map((s) => s.id).find((id) => id !== fx.leader) as string;
  client = new grpc.Client(`127.0.0.1:${fx.tc.cluster.spec(follower).peerPort}`, grpc.credentials.createInsecure());
  // Idle from here on: the leader has bound every member's identity and the follower holds its whole log.
  await waitFor(
    async () => {
      const [f, l] = await Promise.all([statusOf(fx.tc.cluster, follower), statusOf(fx.tc.cluster, fx.leader)]);
      const st = f as unknown as { log: { lastIndex: number }; members: { storageId: string; address: string }[] };
      const lead = l as unknown as { log: { lastIndex: number }; commitIndex: number } | null;
      const bound = st?.members.every((m) => m.storageId !== '' && m.address !== '') === true;
      return bound &&
        lead !== null &&
        st.log.lastIndex === lead.log.lastIndex &&
        lead.commitIndex === lead.log.lastIndex
        ? true
        : undefined;
    },
    20_000,
    'an idle cluster',
  );
});

afterAll(() => client.close());

interface View {
  term: number;
  lastIndex: number;
  leaderStorage: string;
}

async function view(): Promise<View> {
  const st = (await statusOf(fx.tc.cluster, follower)) as unknown as {
    term: number;
    log: { lastIndex: number };
    members: { id: string; storageId: string }[];
  };
  const leaderStorage = st.members.find((m) => m.id === fx.leader)?.storageId ?? '';
  return { term: st.term, lastIndex: st.log.lastIndex, leaderStorage };
}

async function refused(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${fx.tc.cluster.spec(follower).httpPort}/metrics`);
  const m = /^raftq_peer_unauthenticated_total (\d+)/m.exec(await res.text());
  return Number(m?.[1] ?? NaN);
}

function timeoutNow(v: View): Message {
  return {
    type: MessageType.TimeoutNow,
    group: 0,
    term: v.term,
    from: fx.leader,
    fromStorage: v.leaderStorage,
    to: follower,
  };
}

/** An Append the follower would take from its leader: the next index, at the current term. */
function append(v: View): Message {
  const data = new Uint8Array([0xc1, 0xc1, 0xc1]);
  return {
    type: MessageType.Append,
    group: 0,
    term: v.term,
    from: fx.leader,
    fromStorage: v.leaderStorage,
    to: follower,
    index: v.lastIndex,
    logTerm: v.term,
    commit: 0,
    entries: [{ index: asLogIndex(v.lastIndex + 1), term: asTerm(v.term), type: EntryType.Normal, data }],
  };
}

/**
 * No election (same term) and no foreign entry: the follower's log ends where the leader's does, and
 * their states agree at every common applied index (a forged entry at the leader's index and term
 * would be kept by log matching and show as a digest mismatch once applied).
 */
async function expectNothingChanged(before: View): Promise<void> {
  const c = fx.tc.cluster;
  await waitFor(
    async () => {
      const [f, l] = await Promise.all([statusOf(c, follower), statusOf(c, fx.leader)]);
      const fl = f as unknown as { log: { lastIndex: number }; appliedIndex: number } | null;
      const ll = l as unknown as { log: { lastIndex: number }; appliedIndex: number } | null;
      return fl && ll && fl.log.lastIndex === ll.log.lastIndex && fl.appliedIndex === ll.appliedIndex
        ? true
        : undefined;
    },
    10_000,
    'the follower level with the leader',
  );
  expect((await view()).term).toBe(before.term);
  expect(await assertDigestsAgree(c, [fx.leader, follower])).toBeGreaterThan(0);
}

type Forge = 'no MAC' | 'another secret' | 'another cluster' | 'valid';
const FORGED: Forge[] = ['no MAC', 'another secret', 'another cluster'];

function request(msg: Message, forge: Forge): object {
  const header = headerOf(msg);
  const message = encodeMessage(msg);
  const key: PeerAuth | null =
    forge === 'no MAC'
      ? null
      : forge === 'another secret'
        ? { ...auth, secret: Buffer.from('another-secret-of-the-right-length') }
        : forge === 'another cluster'
          ? { ...auth, clusterId: 'c-elsewhere' }
          : auth;
  return { header, message, ...(key ? { mac: peerMac(key, header, message) } : {}) };
}

function unary(name: string, req: object): Promise<grpc.status> {
  const m = method(name);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      req,
      { deadline: Date.now() + 5_000 },
      (err) => resolve(err ? err.code : grpc.status.OK),
    );
  });
}

/** Sends requests on one Stream; resolves once the node acknowledged taking all of them. */
function streamed(reqs: object[]): Promise<void> {
  const m = method('Stream');
  const call = client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize);
  return new Promise((resolve, reject) => {
    call.on('data', (ack: { received?: number }) => {
      if (Number(ack.received) >= reqs.length) {
        call.end();
        resolve();
      }
    });
    call.on('error', reject);
    for (const r of reqs) call.write(r);
  });
}

describe('security - forged peer messages change nothing on a real node', () => {
  it('refuses unary TimeoutNow and Append without the cluster MAC', async () => {
    const before = await view();
    const counted = await refused();
    for (const forge of FORGED) {
      expect(await unary('TimeoutNow', request(timeoutNow(before), forge))).toBe(grpc.status.UNAUTHENTICATED);
      expect(await unary('Append', request(append(before), forge))).toBe(grpc.status.UNAUTHENTICATED);
    }
    expect(await refused()).toBe(counted + 2 * FORGED.length);
    await expectNothingChanged(before);
  });

  it('drops and counts forged requests on the message stream', async () => {
    const before = await view();
    const counted = await refused();
    await streamed(FORGED.flatMap((f) => [request(timeoutNow(before), f), request(append(before), f)]));
    expect(await refused()).toBe(counted + 2 * FORGED.length);
    await expectNothingChanged(before);
  });

  it('control: the same Append and TimeoutNow with the cluster MAC do take effect', async () => {
    const before = await view();
    expect(await unary('Append', request(append(before), 'valid'))).toBe(grpc.status.OK);
    await waitFor(async () => ((await view()).lastIndex > before.lastIndex ? true : undefined), 10_000, 'the append');
    expect(await unary('TimeoutNow', request(timeoutNow(before), 'valid'))).toBe(grpc.status.OK);
    await waitFor(async () => ((await view()).term > before.term ? true : undefined), 10_000, 'the election');
  });
});
