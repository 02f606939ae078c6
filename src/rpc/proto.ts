// Loads the .proto files that src/protocol/proto.ts locates, once per process.
import * as protoLoader from '@grpc/proto-loader';
import {
  CLIENT_SERVICE,
  PROTO_LOADER_OPTIONS,
  protoFilePath,
  type ProtoFile,
  type ProtoMethod,
} from '../protocol/proto.js';

export { PROTO_LOADER_OPTIONS, protoFilePath, type ProtoFile } from '../protocol/proto.js';

const loaded = new Map<ProtoFile, protoLoader.PackageDefinition>();

/** Loads (once per process) and returns the package definition of one .proto file. */
export function loadProtoFile(file: ProtoFile): protoLoader.PackageDefinition {
  const cached = loaded.get(file);
  if (cached !== undefined) return cached;
  const definition = protoLoader.loadSync(protoFilePath(file), PROTO_LOADER_OPTIONS);
  loaded.set(file, definition);
  return definition;
}

/** The methods of the client service, by name. */
export function clientMethods(): Readonly<Record<string, ProtoMethod>> {
  const service = loadProtoFile('client.proto')[CLIENT_SERVICE];
  if (service === undefined || !('Enqueue' in service))
    throw new Error(`raftq: ${CLIENT_SERVICE} is not in client.proto`);
  return service as unknown as Record<string, ProtoMethod>;
}
