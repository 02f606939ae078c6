import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findProtocolDir, loadProtoFile, protoFilePath } from '../../../src/rpc/proto.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const protocolDir = path.join(root, 'src', 'protocol');

describe('rpc - proto loading', () => {
  it('finds <package root>/src/protocol from the source tree and from the compiled tree', () => {
    expect(findProtocolDir()).toBe(protocolDir);
    expect(findProtocolDir(path.join(root, 'src', 'rpc'))).toBe(protocolDir);
    // dist/src/rpc need not exist: the search only probes for the .proto file upwards.
    expect(findProtocolDir(path.join(root, 'dist', 'src', 'rpc'))).toBe(protocolDir);
    expect(protoFilePath('peer.proto')).toBe(path.join(protocolDir, 'peer.proto'));
  });

  it('fails loudly outside a package', () => {
    expect(() => findProtocolDir(path.join(os.tmpdir(), 'raftq-nowhere', 'a', 'b'))).toThrow(/cannot find/);
  });

  it('loads the peer service with every method', () => {
    const service = loadProtoFile('peer.proto')['raftq.peer.v1.RaftPeer'] as Record<string, { requestStream: boolean }>;
    expect(Object.keys(service).sort()).toEqual(
      ['Append', 'Heartbeat', 'InstallSnapshot', 'PreVote', 'Respond', 'TimeoutNow', 'Vote'].sort(),
    );
    expect(service['InstallSnapshot']?.requestStream).toBe(true);
    expect(service['Append']?.requestStream).toBe(false);
    expect(loadProtoFile('peer.proto')).toBe(loadProtoFile('peer.proto'));
  });
});
