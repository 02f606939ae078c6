// How the client port answers a refused call: the ErrorDetail as a gRPC status, with the detail in
// the `raftq-error` trailer so grpcurl users see the stable code (docs/design.md §5).
import * as grpc from '@grpc/grpc-js';
import { ERROR_TABLE, isErrorCode, type ErrorDetail } from '../protocol/errors.js';
import { ERROR_METADATA_KEY } from '../protocol/proto.js';

/** A call answered with an error detail (input refused, a limit reached, an error answer). */
export class Refusal {
  constructor(readonly detail: ErrorDetail) {}
}

/** The value of a decode, or a Refusal thrown with its error. */
export function orRefuse<T>(decoded: { ok: true; value: T } | { ok: false; error: ErrorDetail }): T {
  if (!decoded.ok) throw new Refusal(decoded.error);
  return decoded.value;
}

/** The gRPC status object of an error detail, with the detail in trailing metadata. */
export function grpcErrorOf(detail: ErrorDetail): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  // Metadata values must be printable ASCII: escape the rest inside the JSON text.
  metadata.set(
    ERROR_METADATA_KEY,
    JSON.stringify(detail).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  );
  const spec = isErrorCode(detail.code) ? ERROR_TABLE[detail.code] : ERROR_TABLE.INTERNAL;
  return { code: spec.grpcCode, details: `${detail.code}: ${detail.message}`, metadata };
}
