// Where the .proto files are and how both sides load them. The build copies the .proto files next to
// the compiled protocol module (package.json "build"), so one URL relative to this module finds them
// in the source tree (tsx, vitest) and in dist alike.
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

/** The client service of client.proto, and the trailer carrying a call's ErrorDetail as JSON. */
export const CLIENT_SERVICE = 'raftq.client.v1.RaftQ';
export const ERROR_METADATA_KEY = 'raftq-error';

export type ProtoFile = 'client.proto' | 'peer.proto';

/** Proto-loader options shared by servers and clients so both sides agree on field shapes. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Absolute path of one .proto file, next to this module. */
export function protoFilePath(file: ProtoFile): string {
  return fileURLToPath(new URL(`./${file}`, import.meta.url));
}

const loaded = new Map<ProtoFile, protoLoader.PackageDefinition>();

/** Loads (once per process) and returns the package definition of one .proto file. */
export function loadProtoFile(file: ProtoFile): protoLoader.PackageDefinition {
  const cached = loaded.get(file);
  if (cached !== undefined) return cached;
  const definition = protoLoader.loadSync(protoFilePath(file), PROTO_LOADER_OPTIONS);
  loaded.set(file, definition);
  return definition;
}

/** One method of a loaded service: its (de)serializers, as grpc-js uses them. */
export interface ProtoMethod {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

/** The methods of the client service, by name. */
export function clientMethods(): Readonly<Record<string, ProtoMethod>> {
  const service = loadProtoFile('client.proto')[CLIENT_SERVICE];
  if (service === undefined || !('Enqueue' in service))
    throw new Error(`raftq: ${CLIENT_SERVICE} is not in client.proto`);
  return service as unknown as Record<string, ProtoMethod>;
}
