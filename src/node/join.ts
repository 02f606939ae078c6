// `raftq start --join ADMIN,…`: a new node asks the cluster's leader to add it as a learner (with
// its storage id, so a later wipe is detected), learns how to dial the members, catches up from the
// leader (snapshot and log, as any follower), then asks to be promoted once it has caught up. It
// runs in the background of a started node and ends once the node is a voter (or the node stops).
// A restart with --join and a data dir that is already a voter's does nothing. A wiped node started
// with --join under its old id waits until the old identity is removed, then joins anew.
import type { RaftNode } from '../raft/node.js';
import { AdminCallError, adminCall } from './admin-client.js';
import type { MembersAdmin } from './admin-members.js';
import { formatHostPort, type NodeConfig } from './config.js';
import type { Logger } from './logger.js';

export interface JoinDeps {
  config: NodeConfig;
  raft: RaftNode;
  members: MembersAdmin;
  clusterId: string;
  log: Logger;
  token?: string;
  /** The cluster CA, when the admin ports speak HTTPS (the node runs with TLS). */
  ca?: Buffer;
}

type State = 'absent' | 'learner' | 'voter' | 'other-storage';

function stateOf(raft: RaftNode): State {
  const me = raft.currentMembership.members.find((m) => m.id === raft.id);
  if (me === undefined) return 'absent';
  if (me.storageId !== '' && me.storageId !== raft.storageId) return 'other-storage';
  return me.role;
}

/** Resolves true once this node is a voter; false if stopped or refused for good (logged). */
export async function runJoin(d: JoinDeps): Promise<boolean> {
  const { config, raft, log } = d;
  const addresses = config.join;
  let asked = false;
  let waiting = false;
  while (!d.members.isStopped) {
    const state = stateOf(raft);
    if (state === 'voter' || (state === 'learner' && asked && config.joinAs === 'learner')) {
      log.info({ id: raft.id, role: state }, `joined the cluster: a ${state}`);
      return true;
    }
    try {
      if (state === 'absent' || state === 'other-storage' || !asked) {
        const answer = await adminCall('/admin/members/join', {
          addresses,
          body: {
            id: config.id,
            storageId: raft.storageId,
            address: config.advertise,
            peerAddress: formatHostPort(config.peers.get(config.id) ?? config.peerListen),
            clusterId: d.clusterId,
            smMax: d.members.smMax,
          },
          deadlineMs: 5_000,
          retryOn: ['CHANGE_IN_PROGRESS', 'TRANSFER_IN_PROGRESS', 'TIMEOUT'],
          ...(d.token ? { token: d.token } : {}),
          ...(d.ca ? { ca: d.ca } : {}),
        });
        d.members.learnPeers((answer['peers'] ?? {}) as Record<string, string>);
        if (!asked) log.info({ addresses }, 'asked to join the cluster as a learner');
        asked = true;
      } else if (state === 'learner') {
        await adminCall('/admin/members/promote', {
          addresses,
          body: { id: config.id },
          deadlineMs: 5_000,
          retryOn: ['LEARNER_LAGGING', 'CHANGE_IN_PROGRESS', 'TRANSFER_IN_PROGRESS', 'NOT_HEARD_FROM', 'TIMEOUT'],
          ...(d.token ? { token: d.token } : {}),
          ...(d.ca ? { ca: d.ca } : {}),
        });
      }
    } catch (err) {
      const code = err instanceof AdminCallError ? err.code : 'ERROR';
      if (code === 'CLUSTER_MISMATCH' || code === 'INVALID_ARGUMENT' || code === 'SM_VERSION') {
        log.error({ err: (err as Error).message }, 'the cluster refused to add this node; not retrying');
        return false;
      }
      if (code === 'ID_EXISTS') {
        // Our id is a member with another storage id (this data dir was wiped): once an operator
        // removes the old identity (raftq members remove), the next attempt adds us anew.
        if (!waiting)
          log.error(
            { err: (err as Error).message },
            'this id is a member with another storage id: waiting until an operator removes the old identity (raftq members remove)',
          );
        waiting = true;
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      // A voter already (a promote that raced), or the cluster is busy: look again shortly.
      if (code !== 'NOT_A_LEARNER') log.warn({ err: (err as Error).message }, 'joining: will retry');
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return false;
}
