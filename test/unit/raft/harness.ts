// A tiny synchronous cluster for unit tests: every node has a MemoryStorage, Ready handling follows
// the driver contract (persist, send, apply, advance), and delivery is explicit so that a test can
// drop, hold or reorder messages.

import { makeRaftConfig } from '../../../src/raft/config.js';
import type { RaftConfig } from '../../../src/raft/config.js';
import { RaftNode } from '../../../src/raft/node.js';
import { Rng } from '../../../src/raft/rng.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import type { Entry, Member, Membership, Message, NodeId, Ready } from '../../../src/raft/types.js';

export function member(id: NodeId, role: Member['role'] = 'voter', storageId = `${id}-s1`): Member {
  return { id, storageId, address: `${id}.local:7000`, role };
}

export interface TestPeer {
  node: RaftNode;
  storage: MemoryStorage;
  applied: Entry[];
  readies: Ready[];
}

export class TestCluster {
  readonly peers = new Map<NodeId, TestPeer>();
  /** Messages sent and not yet delivered. */
  inbox: Message[] = [];
  /** Links (from->to) that drop everything. */
  readonly cut = new Set<string>();

  constructor(
    ids: NodeId[],
    readonly overrides: Partial<RaftConfig> = {},
    membership: Membership = { members: ids.map((id) => member(id)) },
  ) {
    for (const id of ids) this.add(id, membership);
  }

  add(id: NodeId, membership: Membership, storageId = `${id}-s1`, seed = id.charCodeAt(id.length - 1)): TestPeer {
    const storage = new MemoryStorage(membership);
    const node = new RaftNode(makeRaftConfig({ id, storageId, group: 1, ...this.overrides }), storage, new Rng(seed));
    const peer = { node, storage, applied: [], readies: [] };
    this.peers.set(id, peer);
    return peer;
  }

  /** A crash and restart: a new core over the same (durable) storage; the state machine replays. */
  restart(id: NodeId, seed = 99): TestPeer {
    const old = this.peer(id);
    const node = new RaftNode(
      makeRaftConfig({ id, storageId: old.node.storageId, group: 1, ...this.overrides, applied: 0 }),
      old.storage,
      new Rng(seed),
    );
    const peer = { node, storage: old.storage, applied: [], readies: [] };
    this.peers.set(id, peer);
    return peer;
  }

  peer(id: NodeId): TestPeer {
    const p = this.peers.get(id);
    if (p === undefined) throw new Error(`no peer ${id}`);
    return p;
  }

  node(id: NodeId): RaftNode {
    return this.peer(id).node;
  }

  /** Handles one Ready exactly as the driver contract says. */
  processReady(id: NodeId): Ready | null {
    const p = this.peer(id);
    if (!p.node.hasReady()) return null;
    const rd = p.node.ready();
    if (rd.snapshot !== null) p.storage.applySnapshot(rd.snapshot);
    p.storage.append(rd.entries);
    if (rd.hardState !== null) p.storage.setHardState(rd.hardState);
    for (const m of rd.messages) this.inbox.push(m);
    for (const e of rd.committedEntries) p.applied.push(e);
    p.readies.push(rd);
    p.node.advance();
    return rd;
  }

  processAllReady(): void {
    for (const id of this.peers.keys()) while (this.processReady(id) !== null);
  }

  isolate(id: NodeId): void {
    for (const other of this.peers.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Delivers everything (and what that provokes) until quiet; returns the number of deliveries. */
  stabilize(maxRounds = 1000, filter: (m: Message) => boolean = () => true): number {
    let delivered = 0;
    for (let round = 0; round < maxRounds; round++) {
      this.processAllReady();
      const batch = this.inbox;
      this.inbox = [];
      if (batch.length === 0) return delivered;
      for (const m of batch) {
        if (this.cut.has(`${m.from}->${m.to}`) || !filter(m)) continue;
        const to = this.peers.get(m.to);
        if (to === undefined) continue;
        to.node.step(m);
        delivered++;
      }
    }
    throw new Error('cluster did not stabilize');
  }

  tick(id: NodeId, times = 1): void {
    for (let k = 0; k < times; k++) this.node(id).tick();
  }

  tickAll(times = 1): void {
    for (let k = 0; k < times; k++) {
      for (const p of this.peers.values()) p.node.tick();
      this.stabilize();
    }
  }

  /** Ticks `id` until it campaigns, then lets the election finish. */
  elect(id: NodeId): void {
    const n = this.node(id);
    for (let k = 0; k < 100 && n.currentRole === 'follower'; k++) n.tick();
    this.stabilize();
  }

  leaders(): NodeId[] {
    return [...this.peers.values()].filter((p) => p.node.currentRole === 'leader').map((p) => p.node.id);
  }

  propose(id: NodeId, text: string, proposalId = 1): void {
    this.node(id).propose(proposalId, new TextEncoder().encode(text));
  }
}

export function texts(entries: readonly Entry[]): string[] {
  return entries.filter((e) => e.type === 0).map((e) => new TextDecoder().decode(e.data));
}
