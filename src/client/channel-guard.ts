// grpc-js waits for the server's HTTP/2 SETTINGS frame with no timeout (grpc/grpc-node#2785): when a
// proxy or middlebox accepts the TCP connection but the path behind it is a black hole, the channel
// stays CONNECTING forever — no back-off, no retry — and every call on it waits for its deadline, long
// after the path has healed. gRPC's connection-backoff spec gives each attempt a deadline; grpc-js does
// not, so the owner of a channel replaces it when this guard reports it stuck.
import * as grpc from '@grpc/grpc-js';

/**
 * Watches `client`'s channel and calls `onStuck` once, when the channel has been CONNECTING for
 * `timeoutMs` without a state change. Arms a timer only while connecting. Returns a function that stops
 * the guard (closing the client also ends it).
 */
export function guardConnecting(client: grpc.Client, timeoutMs: number, onStuck: () => void): () => void {
  const channel = client.getChannel();
  let stopped = false;
  const watch = (state: grpc.connectivityState): void => {
    if (stopped || state === grpc.connectivityState.SHUTDOWN) return;
    const connecting = state === grpc.connectivityState.CONNECTING;
    try {
      channel.watchConnectivityState(state, connecting ? Date.now() + timeoutMs : Infinity, (err) => {
        if (stopped) return;
        if (err !== undefined) {
          stopped = true;
          onStuck();
          return;
        }
        watch(channel.getConnectivityState(false));
      });
    } catch {
      // The channel was closed between two watches: nothing left to guard.
      stopped = true;
    }
  };
  watch(channel.getConnectivityState(false));
  return () => {
    stopped = true;
  };
}

/** Guards a client kept in `clients` under `key`: when stuck connecting it is closed and forgotten, so the next call redials. */
export function evictWhenStuck<K>(clients: Map<K, grpc.Client>, key: K, client: grpc.Client, timeoutMs: number): void {
  guardConnecting(client, timeoutMs, () => {
    if (clients.get(key) === client) clients.delete(key);
    client.close();
  });
}
