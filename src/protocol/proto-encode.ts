// A faster serializer for the hot messages of client.proto (Submit and SubmitStream, both ways).
// proto-loader's serializer is `Type.encode(Type.fromObject(value))`: fromObject copies the whole
// message into protobufjs objects first, which was a third of the SDK's CPU with single enqueues and
// most of its garbage (bench/RESULTS.md, session 25). A plain object whose fields already have their
// wire types encodes to the same bytes without the copy; `Type.verify` (a walk that allocates nothing)
// says whether it does. Anything else — an enum given by name, a float in an integer field, two
// fields of one oneof — goes the old way. The one value that encodes differently is an integer
// outside 0..2^53-1 in a 64-bit field (each path wraps it its own way): the SDK sends none, since it
// checks every command with the node's own validator first, and the node's replies are its own.
import protobuf from 'protobufjs';
import { CLIENT_SERVICE, protoFilePath, type ProtoMethod } from './proto.js';

let root: protobuf.Root | undefined;

/** `slow`'s bytes for every value, without fromObject's copy when the value verifies as it is. */
export function fastEncoder(typeName: string, slow: (value: unknown) => Buffer): (value: unknown) => Buffer {
  // keepCase: the field names as written, as proto-loader reads them (PROTO_LOADER_OPTIONS).
  root ??= new protobuf.Root().loadSync(protoFilePath('client.proto'), { keepCase: true });
  const type = root.lookupType(typeName);
  return (value) => {
    if (typeof value !== 'object' || value === null || type.verify(value as Record<string, unknown>) !== null) {
      return slow(value);
    }
    return type.encode(value as Record<string, unknown>).finish() as Buffer;
  };
}

/** The hot methods' request and reply types (client.proto). */
const HOT: Record<string, [string, string]> = {
  Submit: ['SubmitRequest', 'SubmitReply'],
  SubmitStream: ['SubmitStreamRequest', 'SubmitStreamReply'],
};

/**
 * A copy of a loaded client service definition whose hot methods serialize `side` (the client sends
 * requests, the node replies) with fastEncoder; the other methods are as loaded.
 */
export function withFastEncoders<M extends ProtoMethod>(
  service: Readonly<Record<string, M>>,
  side: 'request' | 'response',
): Record<string, M> {
  const pkg = CLIENT_SERVICE.slice(0, CLIENT_SERVICE.lastIndexOf('.'));
  const out: Record<string, M> = { ...service };
  for (const [name, [request, reply]] of Object.entries(HOT)) {
    const m = service[name];
    if (m === undefined) continue;
    out[name] =
      side === 'request'
        ? { ...m, requestSerialize: fastEncoder(`${pkg}.${request}`, m.requestSerialize.bind(m)) }
        : { ...m, responseSerialize: fastEncoder(`${pkg}.${reply}`, m.responseSerialize.bind(m)) };
  }
  return out;
}
