// One broker node process: storage, Raft driver, gRPC client and peer services, admin HTTP.
import type { NodeConfig } from './config.js';

export async function runNode(config: NodeConfig): Promise<void> {
  throw new Error(`node ${config.id}: the broker node is not built yet`);
}
