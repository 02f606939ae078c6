// Development certificates (`raftq certs dev`, `raftq dev --tls`, tests): a CA, one certificate per
// node and one client certificate, made with @peculiar/x509 over node:crypto's WebCrypto (ECDSA
// P-256) — a maintained, typed X.509 library, so no ASN.1 is written by hand here. Never for
// production: the CA key lies next to the certificates it signed.
import { webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as X509Module from '@peculiar/x509';

export interface DevCertsOptions {
  /** Node ids; each gets `<id>.crt` / `<id>.key` naming the id, localhost, 127.0.0.1 and ::1. */
  nodes: string[];
  /** Client certificate names; each gets `<name>.crt` / `<name>.key` (client authentication only). */
  clients?: string[];
  /** Extra DNS names or IP addresses for every node certificate (a host name, a LAN address). */
  hosts?: string[];
  days?: number;
  /** Sign with the CA already in `dir` (ca.crt, ca.key) instead of making a new one: renewals, more nodes. */
  reuseCa?: boolean;
}

export interface DevCertFiles {
  dir: string;
  ca: string;
  caKey: string;
  nodes: Record<string, { cert: string; key: string }>;
  clients: Record<string, { cert: string; key: string }>;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The file names `makeDevCerts` writes into `dir`. */
export function devCertPaths(dir: string, nodes: string[], clients: string[]): DevCertFiles {
  const pair = (n: string): { cert: string; key: string } => ({
    cert: join(dir, `${n}.crt`),
    key: join(dir, `${n}.key`),
  });
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    nodes: Object.fromEntries(nodes.map((n) => [n, pair(n)])),
    clients: Object.fromEntries(clients.map((n) => [n, pair(n)])),
  };
}

/** True when every file of that set is already there (`raftq dev --dir D` reuses them). */
export function devCertsPresent(files: DevCertFiles): boolean {
  const all = [files.ca, ...Object.values(files.nodes), ...Object.values(files.clients)].flatMap((p) =>
    typeof p === 'string' ? [p] : [p.cert, p.key],
  );
  return all.every((p) => existsSync(p));
}

type X509 = typeof X509Module;

interface Signer {
  x509: X509;
  ca: InstanceType<X509['X509Certificate']>;
  key: webcrypto.CryptoKey;
  notBefore: Date;
  notAfter: Date;
}

/** Writes a CA (unless `reuseCa`) and the node and client certificates into `dir` (keys mode 600). */
export async function makeDevCerts(dir: string, opts: DevCertsOptions): Promise<DevCertFiles> {
  const clients = opts.clients ?? ['client'];
  for (const n of [...opts.nodes, ...clients]) {
    if (!NAME_RE.test(n) || n === 'ca') throw new Error(`"${n}" is not a usable certificate name`);
  }
  // @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as never);
  const files = devCertPaths(dir, opts.nodes, clients);
  mkdirSync(dir, { recursive: true });
  const signer = await devCa(x509, files, opts);
  for (const n of opts.nodes) {
    const hosts = [n, 'localhost', '127.0.0.1', '::1', ...(opts.hosts ?? [])];
    await issue(signer, n, hosts, files.nodes[n] as { cert: string; key: string });
  }
  for (const n of clients) await issue(signer, n, null, files.clients[n] as { cert: string; key: string });
  return files;
}

const keyPair = (): Promise<webcrypto.CryptoKeyPair> =>
  webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;

async function keyPem(x509: X509, k: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', k), 'PRIVATE KEY');
}

/** The CA in `files` (reuseCa) or a new one written there. */
async function devCa(x509: X509, files: DevCertFiles, opts: DevCertsOptions): Promise<Signer> {
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + (opts.days ?? 365) * 86_400_000);
  if (opts.reuseCa === true) {
    const ca = new x509.X509Certificate(readFileSync(files.ca, 'utf8'));
    const der = x509.PemConverter.decodeFirst(readFileSync(files.caKey, 'utf8'));
    const key = await webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
    return { x509, ca, key, notBefore, notAfter };
  }
  const keys = await keyPair();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=raftq development CA',
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  writeFile(files.ca, ca.toString('pem'), 0o644);
  writeFile(files.caKey, await keyPem(x509, keys.privateKey), 0o600);
  return { x509, ca, key: keys.privateKey, notBefore, notAfter };
}

/** A node certificate (server and client use, naming `hosts`) or, with hosts null, a client one. */
async function issue(
  s: Signer,
  name: string,
  hosts: string[] | null,
  out: { cert: string; key: string },
): Promise<void> {
  const { x509 } = s;
  const keys = await keyPair();
  const usage = hosts
    ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
    : [x509.ExtendedKeyUsage.clientAuth];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${name}`,
    issuer: s.ca.subject,
    notBefore: s.notBefore,
    notAfter: s.notAfter,
    publicKey: keys.publicKey,
    signingKey: s.key,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usage),
      ...(hosts
        ? [new x509.SubjectAlternativeNameExtension(hosts.map((h) => ({ type: isIp(h) ? 'ip' : 'dns', value: h })))]
        : []),
    ],
  });
  writeFile(out.cert, cert.toString('pem'), 0o644);
  writeFile(out.key, await keyPem(x509, keys.privateKey), 0o600);
}

function writeFile(path: string, text: string, mode: number): void {
  writeFileSync(path, text.endsWith('\n') ? text : `${text}\n`, { mode });
  chmodSync(path, mode); // an existing file keeps its mode on overwrite
}

function serial(): string {
  // Positive, 16 random bytes (RFC 5280 allows up to 20).
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] as number) & 0x7f;
  return Buffer.from(b).toString('hex');
}

function isIp(h: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || h.includes(':');
}
