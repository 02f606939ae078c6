// Where the .proto files are and how both sides load them (the loading itself, file I/O, is
// src/rpc/proto.ts's and grpc-transport.ts's). The build copies the .proto files next to the compiled
// protocol module (package.json "build"), so one URL relative to this module finds them in the source
// tree (tsx, vitest) and in dist alike.
import { fileURLToPath } from 'node:url';
import type * as protoLoader from '@grpc/proto-loader';

/** The client service of client.proto, and the trailer carrying a call's ErrorDetail as JSON. */
export const CLIENT_SERVICE = 'raftq.client.v1.RaftQ';
export const ERROR_METADATA_KEY = 'raftq-error';
/** Request metadata: `1` lets a follower forward the call to the leader instead of NOT_LEADER (issue 18). */
export const FORWARD_METADATA_KEY = 'raftq-forward';

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
