// The node's TLS and peer secret (docs/security.md): one TlsMaterial for the client, peer and admin
// ports, and one PeerAuth for the peer server and transport, both re-read on SIGHUP; and the warnings
// for ports left in plaintext off loopback.
import type * as grpc from '@grpc/grpc-js';
import type { PeerAuth } from '../rpc/peer-auth.js';
import { peerChannelCredentials, serverCredentials, TlsMaterial, type TlsBundle } from '../rpc/tls.js';
import { ConfigError, formatHostPort, readClusterSecret, type HostPort, type NodeConfig } from './config.js';
import type { Logger } from './logger.js';

export interface NodeTls {
  material: TlsMaterial;
  client: grpc.ServerCredentials;
  peer: grpc.ServerCredentials;
  dial: (peer: string) => grpc.ChannelCredentials;
}

/** The TLS of every port, or null (plaintext) when no certificate is configured. */
export function nodeTls(config: NodeConfig, log: Logger): NodeTls | null {
  if (config.tls === null) return null;
  const material = new TlsMaterial(config.tls.paths);
  logBundle(log, material.current(), 'TLS on the client, peer (mutual) and admin ports');
  return {
    material,
    client: serverCredentials(material, config.tls.clientAuth === 'require'),
    peer: serverCredentials(material, true),
    dial: (peer) => peerChannelCredentials(material, peer),
  };
}

/** Re-reads the files (SIGHUP); a failure keeps the old certificate and is logged as an error. */
export function reloadTls(tls: NodeTls, log: Logger): boolean {
  const r = tls.material.reload();
  if (r.ok) logBundle(log, r.bundle, 'TLS certificate reloaded: new connections use it');
  else log.error({ err: r.error.message }, 'TLS reload failed: still serving the previous certificate');
  return r.ok;
}

/** The peer MAC keys, shared by the peer server and transport so a reload reaches both; null: none. */
export function peerAuthOf(config: NodeConfig): PeerAuth | null {
  if (config.clusterSecret === null) return null;
  return {
    secret: config.clusterSecret,
    clusterId: config.clusterId ?? '',
    accept: config.clusterSecretAccept === null ? [] : [config.clusterSecretAccept],
  };
}

/** Re-reads the secret files (SIGHUP) into `auth`; a failure keeps the secrets in use. */
export function reloadPeerSecret(auth: PeerAuth | null, config: NodeConfig, log: Logger): boolean | null {
  const files = config.clusterSecretFiles;
  if (auth === null || files === null) return null;
  try {
    const secret = readClusterSecret(files.secret);
    const accept = files.accept === null ? null : readClusterSecret(files.accept, 'cluster-secret-accept-file');
    auth.secret = secret;
    auth.accept = accept === null ? [] : [accept];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log.error({ err: err.message }, 'cluster secret reload failed: still using the previous secrets');
    return false;
  }
  log.info({ accepting: 1 + (auth.accept?.length ?? 0) }, 'cluster secret reloaded');
  return true;
}

function logBundle(log: Logger, b: TlsBundle, msg: string): void {
  log.info({ fingerprint: b.fingerprint, validTo: b.validTo }, msg);
}

const LOOPBACK = /^(127\.|localhost$|::1$)/;

/** Warns (an error-level line) for every port bound off loopback without TLS: its traffic is in clear. */
export function warnPlaintext(config: NodeConfig, log: Logger): void {
  if (config.tls !== null) return;
  const ports: [string, HostPort | null][] = [
    ['listen', config.listen],
    ['peer-listen', config.peerListen],
    ['http', config.http],
  ];
  for (const [flag, hp] of ports) {
    if (hp === null || LOOPBACK.test(hp.host)) continue;
    log.error(
      { [flag]: formatHostPort(hp) },
      `--${flag} is not on loopback and TLS is off: tokens, payloads and peer messages travel in clear (docs/security.md)`,
    );
  }
}
