// TLS for the three ports (docs/security.md): one node certificate, its key and the cluster CA, read
// from files and re-read on demand (SIGHUP) without dropping the node. The client port serves the
// certificate (and may ask clients for one); the peer port is mutual TLS: both sides present a
// certificate signed by the cluster CA, and each checks that the other's certificate names the member
// it claims to be (a DNS name or the common name equal to the member id). A reload that fails (a
// missing file, a key that does not match its certificate) keeps the old material and says why.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type PeerCertificate, type SecureContextOptions } from 'node:tls';
import * as grpc from '@grpc/grpc-js';

export interface TlsPaths {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/** A certificate, key or CA file that cannot be used; `field` names the setting. */
export class TlsFileError extends Error {
  constructor(
    readonly field: 'tls-cert-file' | 'tls-key-file' | 'tls-ca-file',
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'TlsFileError';
  }
}

export interface TlsBundle {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  /** The leaf certificate's SHA-256 fingerprint (logs, tests). */
  fingerprint: string;
  /** Its end of validity (ISO), so an operator sees an expiring certificate in the log. */
  validTo: string;
}

type IdentityListener = (u: { certificate: Buffer; privateKey: Buffer } | null) => void;
type CaListener = (u: { caCertificate: Buffer } | null) => void;

/** Reads and checks the three files; throws TlsFileError naming the one that is wrong. */
export function readTlsBundle(paths: TlsPaths): TlsBundle {
  const read = (field: TlsFileError['field'], path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new TlsFileError(field, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const cert = read('tls-cert-file', paths.certFile);
  const key = read('tls-key-file', paths.keyFile);
  const ca = read('tls-ca-file', paths.caFile);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new TlsFileError('tls-cert-file', `${paths.certFile} holds no PEM certificate`);
  }
  try {
    new X509Certificate(ca);
  } catch {
    throw new TlsFileError('tls-ca-file', `${paths.caFile} holds no PEM certificate`);
  }
  try {
    createSecureContext({ cert, key, ca });
  } catch (err) {
    throw new TlsFileError(
      'tls-key-file',
      `${paths.keyFile} does not fit ${paths.certFile}: ${(err as Error).message}`,
    );
  }
  return { cert, key, ca, fingerprint: leaf.fingerprint256, validTo: new Date(leaf.validTo).toISOString() };
}

/**
 * The node's TLS material, shared by every port: grpc-js takes it as a certificate provider (for its
 * identity and its CA), the admin HTTPS server through onChange. `reload()` re-reads the files; new
 * connections get the new material, connections already open keep theirs.
 */
export class TlsMaterial implements grpc.experimental.CertificateProvider {
  private bundle: TlsBundle;
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();
  private readonly changeListeners = new Set<(b: TlsBundle) => void>();

  constructor(readonly paths: TlsPaths) {
    this.bundle = readTlsBundle(paths);
  }

  current(): TlsBundle {
    return this.bundle;
  }

  /** Re-reads the files; on failure the old material stays in use and the error is returned. */
  reload(): { ok: true; bundle: TlsBundle } | { ok: false; error: TlsFileError } {
    let next: TlsBundle;
    try {
      next = readTlsBundle(this.paths);
    } catch (err) {
      if (err instanceof TlsFileError) return { ok: false, error: err };
      throw err;
    }
    this.bundle = next;
    for (const l of this.identityListeners) l({ certificate: next.cert, privateKey: next.key });
    for (const l of this.caListeners) l({ caCertificate: next.ca });
    for (const l of this.changeListeners) l(next);
    return { ok: true, bundle: next };
  }

  /** The options of an HTTPS server or a TLS socket for the current material. */
  secureContextOptions(): SecureContextOptions {
    return { cert: this.bundle.cert, key: this.bundle.key, ca: this.bundle.ca };
  }

  onChange(listener: (b: TlsBundle) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  // grpc-js registers its own watcher only after adding these listeners: an answer given inside the
  // call would be lost (the server would drop every connection as "unloaded credentials").
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener({ caCertificate: this.bundle.ca });
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identityListeners.has(listener))
        listener({ certificate: this.bundle.cert, privateKey: this.bundle.key });
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}

/**
 * Server credentials that follow the material's reloads. `requireClientCert`: the handshake fails
 * unless the client presents a certificate signed by the CA (the peer port always; the client port
 * when --tls-client-auth require).
 */
export function serverCredentials(m: TlsMaterial, requireClientCert: boolean): grpc.ServerCredentials {
  // grpc-js takes the identity provider first, whatever its parameter names say.
  return grpc.experimental.createCertificateProviderServerCredentials(
    m,
    requireClientCert ? m : null,
    requireClientCert,
  );
}

/**
 * How a node dials member `peerId`: it presents its own certificate, trusts only the cluster CA and
 * accepts the server only if its certificate names `peerId` (not merely the address dialled, which
 * may be a proxy or an IP shared by several members).
 */
export function peerChannelCredentials(m: TlsMaterial, peerId: string): grpc.ChannelCredentials {
  return grpc.experimental.createCertificateProviderChannelCredentials(m, m, {
    checkServerIdentity: (_host, cert) =>
      certNames(cert).includes(peerId)
        ? undefined
        : new Error(`the certificate of ${peerId}'s peer port names ${certNames(cert).join(', ') || 'nothing'}`),
  });
}

/** The names a certificate vouches for: its DNS subject alternative names, then its common name. */
export function certNames(cert: Pick<PeerCertificate, 'subject' | 'subjectaltname'> | undefined): string[] {
  if (cert === undefined) return [];
  const names: string[] = [];
  for (const part of (cert.subjectaltname ?? '').split(',')) {
    const p = part.trim();
    if (p.startsWith('DNS:')) names.push(p.slice(4));
  }
  const cn = cert.subject?.CN;
  if (typeof cn === 'string' && cn !== '') names.push(cn);
  return names;
}

/** A gRPC server call, as far as its peer's certificate goes. */
export interface CertCall {
  getAuthContext?: () => { sslPeerCertificate?: PeerCertificate };
}

/** The member names of the certificate a peer presented on this call (empty without TLS or a certificate). */
export function callCertNames(call: CertCall): string[] {
  const ctx = call.getAuthContext?.();
  const cert = ctx?.sslPeerCertificate;
  // An absent certificate shows as an empty object on some Node versions.
  return cert && Object.keys(cert).length > 0 ? certNames(cert) : [];
}
