// Node status -> client.proto StatusReply (command and read replies are the wire contract of
// src/protocol/wire.ts and wire-reads.ts).
import type { NodeStatus } from './executor.js';

export function statusReply(s: NodeStatus): Record<string, unknown> {
  const out: Record<string, unknown> = { ...s, members: s.members.map((m) => ({ ...m })) };
  if (s.leader === null) delete out['leader'];
  if (s.leaderAddress === null) delete out['leaderAddress'];
  if (s.fsync === null || s.fsync === undefined) delete out['fsync'];
  return out;
}
