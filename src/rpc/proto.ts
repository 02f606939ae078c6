// The .proto files are located and loaded by src/protocol/proto.ts (one place for server and SDK).
export { PROTO_LOADER_OPTIONS, protoFilePath, loadProtoFile, type ProtoFile } from '../protocol/proto.js';
