import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLIENT_SERVICE, protoFilePath } from '../../../src/protocol/proto.js';
import { clientMethods, loadProtoFile } from '../../../src/rpc/proto.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('protocol - proto files', () => {
  it('are found next to the protocol module (the build copies them there)', () => {
    expect(protoFilePath('peer.proto')).toBe(path.join(root, 'src', 'protocol', 'peer.proto'));
    expect(existsSync(protoFilePath('client.proto'))).toBe(true);
  });

  it('loads the peer service with every method, once', () => {
    const service = loadProtoFile('peer.proto')['raftq.peer.v1.RaftPeer'] as Record<
      string,
      { requestStream: boolean; responseStream: boolean }
    >;
    expect(Object.keys(service).sort()).toEqual(
      ['Append', 'Heartbeat', 'InstallSnapshot', 'PreVote', 'Respond', 'Stream', 'TimeoutNow', 'Vote'].sort(),
    );
    expect(service['InstallSnapshot']?.requestStream).toBe(true);
    expect(service['Stream']?.requestStream).toBe(true);
    expect(service['Stream']?.responseStream).toBe(true);
    expect(service['Append']?.requestStream).toBe(false);
    expect(loadProtoFile('peer.proto')).toBe(loadProtoFile('peer.proto'));
  });

  it('loads the client service', () => {
    expect(clientMethods()['Submit']?.path).toBe(`/${CLIENT_SERVICE}/Submit`);
  });
});
