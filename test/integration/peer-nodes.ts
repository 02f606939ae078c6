// A PeerServer that collects what it receives, for the peer transport tests.
import type { Message, NodeId } from '../../src/raft/types.js';
import { PeerServer, type PeerServerOptions } from '../../src/rpc/peer-server.js';

export interface TestNode {
  id: NodeId;
  server: PeerServer;
  inbox: Message[];
}

/** Starts a peer server on a free loopback port; `cleanup` gets its close. */
export async function startNode(
  cleanup: (() => Promise<void> | void)[],
  id: NodeId,
  extra: Partial<PeerServerOptions> = {},
): Promise<TestNode> {
  const inbox: Message[] = [];
  const server = await PeerServer.start({
    address: '127.0.0.1:0',
    selfId: id,
    onMessage: (m) => inbox.push(m),
    ...extra,
  });
  cleanup.push(() => server.close(100));
  return { id, server, inbox };
}
