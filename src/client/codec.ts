// Payload codecs. msgpackr by default; a raw Uint8Array passes through untouched; a custom codec can
// be plugged in. Payloads above a size are compressed (node:zlib). Both choices are marked in the
// task's headers so any worker decodes them, whatever codec the producer used. The codec header
// (`raftq-codec`) is `raw` or `msgpack` for producers in other languages; without it a payload
// that is not exactly one MessagePack value is delivered as raw bytes (docs/sdk.md "Payloads").
import { gunzipSync, gzipSync } from 'node:zlib';
import { Packr } from 'msgpackr';
import { DEFAULT_LIMITS } from '../protocol/limits.js';
import { raftqError } from './errors.js';
import { checkPayload } from './options.js';

export interface Codec<T = unknown> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

const packr = new Packr({ useRecords: false, structuredClone: false, mapsAsObjects: true, moreTypes: false });

export const msgpackCodec: Codec<unknown> = {
  encode: (value) => packr.pack(value),
  decode: (bytes) => packr.unpack(bytes),
};

/** Reserved header names (user headers may not start with `raftq-`). */
export const CODEC_HEADER = 'raftq-codec';
export const COMPRESSION_HEADER = 'raftq-compression';
export const RESERVED_HEADER_PREFIX = 'raftq-';

export interface PayloadOptions {
  codec: Codec;
  /** Encoded payloads larger than this are gzipped; Infinity: never. */
  compressAboveBytes: number;
  /** The payload limit applies to the encoded bytes before compression (default: the server's). */
  limits?: { payloadBytesMax: number };
}

export interface EncodedPayload {
  payload: Uint8Array;
  /** Only the reserved headers describing the encoding (none for the common case). */
  headers: Record<string, string>;
}

export function encodePayload(value: unknown, opts: PayloadOptions): EncodedPayload {
  const headers: Record<string, string> = {};
  let payload: Uint8Array;
  if (value instanceof Uint8Array) {
    payload = value;
    headers[CODEC_HEADER] = 'raw';
  } else {
    payload = encodeValue(value, opts.codec);
  }
  // Checked before compression: what a worker must hold in memory is the inflated size.
  const max = opts.limits?.payloadBytesMax ?? DEFAULT_LIMITS.payloadBytesMax;
  if (payload.byteLength > max) {
    throw raftqError('INVALID_ARGUMENT', `payload: ${payload.byteLength} bytes encoded exceeds ${max}`, {
      field: 'payload',
      limit: 'payloadBytesMax',
    });
  }
  if (payload.byteLength > opts.compressAboveBytes) {
    payload = new Uint8Array(gzipSync(payload));
    headers[COMPRESSION_HEADER] = 'gzip';
  }
  return { payload, headers };
}

/** The codec's bytes; what it cannot encode (a cycle, a Symbol) is INVALID_ARGUMENT naming the payload. */
function encodeValue(value: unknown, codec: Codec): Uint8Array {
  try {
    return codec.encode(value);
  } catch (e) {
    // Only on failure (the hot path pays nothing): find the offending part to name it.
    if (codec === msgpackCodec) checkPayload(value);
    throw raftqError('INVALID_ARGUMENT', `payload: cannot be encoded: ${e instanceof Error ? e.message : String(e)}`, {
      field: 'payload',
    });
  }
}

/**
 * Decodes a payload per its headers. Throws if it cannot (the worker dead-letters such a task),
 * including a gzip that would inflate beyond `maxBytes` (never inflated past it).
 */
export function decodePayload(
  bytes: Uint8Array,
  headers: Record<string, string>,
  codec: Codec,
  maxBytes: number = DEFAULT_LIMITS.payloadBytesMax,
): unknown {
  let data = bytes;
  const compression = headers[COMPRESSION_HEADER];
  if (compression === 'gzip') data = inflate(data, maxBytes);
  else if (compression !== undefined) throw new Error(`unknown compression ${compression}`);
  const kind = headers[CODEC_HEADER];
  if (kind === 'raw') return data;
  if (kind === 'msgpack') return msgpackCodec.decode(data);
  if (kind !== undefined) throw new Error(`unknown codec ${kind}`);
  if (codec !== msgpackCodec) return codec.decode(data);
  // No codec header: the SDK's own msgpack payloads (it leaves the common case unmarked, so a task
  // costs no header in the state machine), or bytes from another producer (grpcurl, another
  // language) that are not one MessagePack value — those are delivered as they are, raw.
  try {
    return msgpackCodec.decode(data);
  } catch {
    // Sealed by encryptedCodec (encryption.ts) for a client holding keys: not this one's to read.
    if (isSealed(data))
      throw new Error('undecryptable: the payload is encrypted and this client has no encryption keys');
    return data;
  }
}

/** The first bytes of a payload sealed by encryptedCodec. */
export const SEALED_MAGIC = 'rqe1';

export function isSealed(data: Uint8Array): boolean {
  return data.byteLength > 4 && Buffer.from(data.buffer, data.byteOffset, 4).toString('latin1') === SEALED_MAGIC;
}

function inflate(data: Uint8Array, maxBytes: number): Uint8Array {
  try {
    return new Uint8Array(gunzipSync(data, { maxOutputLength: maxBytes }));
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new Error(`gzip payload inflates beyond ${maxBytes} bytes`);
    }
    throw e;
  }
}

/** User headers without the reserved ones. */
export function userHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  // for...in, not Object.entries: once per leased task (no pair arrays).
  for (const k in headers) if (Object.hasOwn(headers, k) && !k.startsWith(RESERVED_HEADER_PREFIX)) out[k] = headers[k]!;
  return out;
}
