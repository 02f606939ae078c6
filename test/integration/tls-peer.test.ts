// TLS in process, on loopback (issue #14): the peer port is mutual TLS under the cluster CA and
// accepts a message only from the member its certificate names; a reloaded certificate is served to
// the next connection while the material in use stays when a reload fails.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeDevCerts, type DevCertFiles } from '../../src/node/dev-certs.js';
import { MessageType, type Message, type NodeId } from '../../src/raft/types.js';
import { PeerServer } from '../../src/rpc/peer-server.js';
import { PeerTransport } from '../../src/rpc/peer-transport.js';
import { peerChannelCredentials, serverCredentials, TlsMaterial, type TlsPaths } from '../../src/rpc/tls.js';
import { message, waitFor } from '../unit/rpc/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'raftq-tls-'));
let cluster: DevCertFiles;
let foreign: DevCertFiles;
const cleanup: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  cluster = await makeDevCerts(join(dir, 'cluster'), { nodes: ['n1', 'n2', 'n3'] });
  // Another CA that also issued an "n1": the name is right, the signer is not.
  foreign = await makeDevCerts(join(dir, 'foreign'), { nodes: ['n1'] });
});
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function paths(set: DevCertFiles, node: string, ca = set.ca): TlsPaths {
  const n = set.nodes[node] as { cert: string; key: string };
  return { certFile: n.cert, keyFile: n.key, caFile: ca };
}

async function peerServer(id: NodeId, m: TlsMaterial): Promise<{ server: PeerServer; inbox: Message[] }> {
  const inbox: Message[] = [];
  const server = await PeerServer.start({
    address: '127.0.0.1:0',
    selfId: id,
    credentials: serverCredentials(m, true),
    onMessage: (msg) => inbox.push(msg),
  });
  cleanup.push(() => server.close(100));
  return { server, inbox };
}

interface Dialer {
  t: PeerTransport;
  /** Why calls to the peer failed (transitions to unreachable). */
  failures: string[];
}

function dialer(selfId: NodeId, m: TlsMaterial, to: NodeId, address: string): Dialer {
  const failures: string[] = [];
  const t = new PeerTransport({
    selfId,
    peers: new Map([[to, address]]),
    credentials: (peer) => peerChannelCredentials(m, peer),
    onPeerStatus: (_p, ok, reason) => (ok ? undefined : failures.push(reason ?? '')),
  });
  cleanup.push(() => t.close());
  return { t, failures };
}

const heartbeat = (from: NodeId, to: NodeId, commit: number): Message =>
  message({ type: MessageType.Heartbeat, from, to, term: 2, commit });

describe('rpc - TLS between peers', () => {
  it('members of the cluster CA exchange messages over mutual TLS', async () => {
    const n2 = await peerServer('n2', new TlsMaterial(paths(cluster, 'n2')));
    const { t } = dialer('n1', new TlsMaterial(paths(cluster, 'n1')), 'n2', n2.server.address);
    for (let i = 1; i <= 3; i++) t.send([heartbeat('n1', 'n2', i)]);
    await waitFor(() => n2.inbox.length === 3, 'three heartbeats delivered');
    expect(n2.inbox.map((m) => m.commit)).toEqual([1, 2, 3]);
  });

  it('refuses a peer whose certificate another CA signed (the handshake fails; nothing delivered)', async () => {
    const n2 = await peerServer('n2', new TlsMaterial(paths(cluster, 'n2')));
    // The impostor trusts the cluster CA (so it would accept n2) but presents a foreign "n1".
    const impostor = new TlsMaterial(paths(foreign, 'n1', cluster.ca));
    const { t, failures } = dialer('n1', impostor, 'n2', n2.server.address);
    t.send([heartbeat('n1', 'n2', 1)]);
    await waitFor(() => failures.length > 0, 'the link to n2 fails');
    expect(n2.inbox).toEqual([]);
    expect(n2.server.metrics().receivedCount).toBe(0);
  });

  it("refuses another member's certificate: n3's certificate cannot speak for n1", async () => {
    const n2 = await peerServer('n2', new TlsMaterial(paths(cluster, 'n2')));
    const { t } = dialer('n1', new TlsMaterial(paths(cluster, 'n3')), 'n2', n2.server.address);
    t.send([heartbeat('n1', 'n2', 1), heartbeat('n1', 'n2', 2)]);
    await waitFor(() => n2.server.metrics().unauthenticatedCount >= 2, 'two refusals counted');
    expect(n2.inbox).toEqual([]);
    // The same certificate speaking for itself is delivered.
    const own = dialer('n3', new TlsMaterial(paths(cluster, 'n3')), 'n2', n2.server.address);
    own.t.send([heartbeat('n3', 'n2', 7)]);
    await waitFor(() => n2.inbox.length === 1, 'n3 heard');
    expect(n2.inbox[0]?.from).toBe('n3');
  });

  it('the dialler refuses a server whose certificate names another member', async () => {
    // n3's server answers at the address this node believes is n2's.
    const n3 = await peerServer('n3', new TlsMaterial(paths(cluster, 'n3')));
    const { t, failures } = dialer('n1', new TlsMaterial(paths(cluster, 'n1')), 'n2', n3.server.address);
    t.send([heartbeat('n1', 'n2', 1)]);
    await waitFor(() => failures.length > 0, 'the link to n2 fails');
    expect(n3.inbox).toEqual([]);
    expect(n3.server.metrics().receivedCount).toBe(0);
  });
});

/** The SHA-256 fingerprint of the certificate a new TLS connection to `port` is served. */
function servedFingerprint(port: number, m: TlsMaterial): Promise<string> {
  // The peer port is mutual TLS: present a member's certificate, as a peer would.
  const { cert, key } = cluster.nodes['n1'] as { cert: string; key: string };
  const opts = { cert: readFileSync(cert), key: readFileSync(key), ca: m.current().ca };
  return new Promise((resolve, reject) => {
    const s = connect(
      { host: '127.0.0.1', servername: 'n2', port, ALPNProtocols: ['h2'], rejectUnauthorized: false, ...opts },
      () => {
        const fp = s.getPeerCertificate().fingerprint256;
        s.destroy();
        resolve(fp);
      },
    );
    s.once('error', reject);
  });
}

describe('rpc - TLS certificate reload', () => {
  it('a reloaded certificate is served to the next connection; a broken reload keeps the old one', async () => {
    const live = join(dir, 'live');
    const next = await makeDevCerts(join(dir, 'next'), { nodes: ['n2'] });
    const install = (set: DevCertFiles): void => {
      const n = set.nodes['n2'] as { cert: string; key: string };
      copyFileSync(n.cert, `${live}.crt`);
      copyFileSync(n.key, `${live}.key`);
      copyFileSync(set.ca, `${live}-ca.crt`);
    };
    install(cluster);
    const m = new TlsMaterial({ certFile: `${live}.crt`, keyFile: `${live}.key`, caFile: `${live}-ca.crt` });
    const first = m.current().fingerprint;
    const { server } = await peerServer('n2', m);
    expect(await servedFingerprint(server.port, m)).toBe(first);

    install(next);
    const r = m.reload();
    expect(r.ok).toBe(true);
    const second = m.current().fingerprint;
    expect(second).not.toBe(first);
    expect(await servedFingerprint(server.port, m)).toBe(second);

    // A key that does not fit its certificate: refused, the served certificate does not change.
    copyFileSync(cluster.nodes['n1']?.key as string, `${live}.key`);
    const bad = m.reload();
    expect(bad.ok).toBe(false);
    expect(bad.ok ? '' : bad.error.field).toBe('tls-key-file');
    writeFileSync(`${live}.crt`, 'not a certificate');
    expect(m.reload().ok).toBe(false);
    expect(m.current().fingerprint).toBe(second);
    expect(await servedFingerprint(server.port, m)).toBe(second);
  });
});
