// The client service's gRPC definition, loaded from client.proto: request deserializers report
// undecodable bytes as a value (the handlers answer INVALID_ARGUMENT) instead of throwing.
import type * as grpc from '@grpc/grpc-js';
import { CLIENT_SERVICE } from '../protocol/proto.js';
import type { Message } from '../protocol/wire-values.js';
import { loadProtoFile } from './proto.js';

type Obj = Message;
type Decoded = { ok: true; value: Obj } | { ok: false; reason: string };

/** The proto-loader definition, with request deserializers that report garbage instead of throwing. */
export function clientServiceDefinition(): grpc.ServiceDefinition {
  const loaded = loadProtoFile('client.proto')[CLIENT_SERVICE];
  if (loaded === undefined || !('Enqueue' in loaded))
    throw new Error(`raftq: ${CLIENT_SERVICE} is not in client.proto`);
  const safe: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(loaded as grpc.ServiceDefinition)) {
    const inner = method.requestDeserialize;
    safe[name] = {
      ...method,
      requestDeserialize: (buf: Buffer): Decoded => {
        try {
          return { ok: true, value: inner(buf) as Obj };
        } catch {
          return { ok: false, reason: 'protobuf: undecodable request' };
        }
      },
    };
  }
  return safe as grpc.ServiceDefinition;
}
