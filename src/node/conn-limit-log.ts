// The client port's connections-per-address limit of one node (src/rpc/conn-limits.ts): null when
// off (--limit-connections-per-address 0); a refusal is logged as a warning naming the address.
import { ConnectionLimiter } from '../rpc/conn-limits.js';
import type { NodeConfig } from './config.js';
import type { Logger } from './logger.js';

export function connectionLimiter(config: NodeConfig, log: Logger): ConnectionLimiter | null {
  const perAddress = config.clientLimits.connectionsPerAddress ?? 0;
  if (perAddress <= 0) return null;
  return new ConnectionLimiter({
    perAddress,
    onRefuse: (address, open) =>
      log.warn(
        { address, open, limit: 'connections_per_address', max: perAddress },
        'client connection refused: too many connections from this address (its calls get RESOURCE_EXHAUSTED)',
      ),
  });
}
