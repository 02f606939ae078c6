// msgpackr codecs with deterministic options: no records or shared structures (which make the
// encoding depend on what was encoded before), no float32 narrowing, maps decoded as plain objects.
// Decoding never trusts its input: callers validate the structure they get.

import { Packr, Unpackr } from 'msgpackr';
import type { Envelope, SessionCommand } from './commands.js';
import { ENVELOPE_VERSION } from './commands.js';

const options = {
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  bundleStrings: false,
  mapsAsObjects: true,
  variableMapSize: true,
  useFloat32: 0,
  int64AsType: 'number',
  largeBigIntToFloat: false,
  encodeUndefinedAsNil: false,
} as const;

const packr = new Packr(options);
const unpackr = new Unpackr(options);

export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Throws on malformed input; prefer tryDecode on untrusted bytes. */
export function decode(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

export function tryDecode(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: unpackr.unpack(bytes) };
  } catch {
    return { ok: false };
  }
}

/** All values of a concatenation of encoded values (snapshots). Throws on malformed input. */
export function decodeMultiple(bytes: Uint8Array): unknown[] {
  return unpackr.unpackMultiple(bytes);
}

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return packr.pack(envelope);
}

function isStamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** The envelope shell of one command. The command itself is validated by the state machine. */
function decodeSessionCommand(value: unknown): SessionCommand | null {
  if (!isRecord(value)) return null;
  const session = value['session'] ?? null;
  const seq = value['seq'] ?? 0;
  const floor = value['floor'];
  if (session !== null && (typeof session !== 'string' || session.length === 0 || session.length > 64)) return null;
  if (!isStamp(seq)) return null;
  if (floor !== undefined && !isStamp(floor)) return null;
  if (session !== null && seq < 1) return null;
  const cmd = value['cmd'] as SessionCommand['cmd'];
  return floor === undefined ? { session, seq, cmd } : { session, seq, floor, cmd };
}

export const ENVELOPE_COMMANDS_MAX = 4096;

/**
 * Decode and check the envelope shell: version, stamps, command list. Returns null for bytes that
 * are not an envelope (the state machine counts those as a no-op). Never throws.
 */
export function decodeEnvelope(bytes: Uint8Array): Envelope | null {
  const decoded = tryDecode(bytes);
  if (!decoded.ok || !isRecord(decoded.value)) return null;
  const { v, mono, wall, cmds } = decoded.value;
  if (v !== ENVELOPE_VERSION || !isStamp(mono) || !isStamp(wall)) return null;
  if (!Array.isArray(cmds) || cmds.length > ENVELOPE_COMMANDS_MAX) return null;
  const out: SessionCommand[] = [];
  for (const item of cmds) {
    const sc = decodeSessionCommand(item);
    if (sc === null) return null;
    out.push(sc);
  }
  return { v, mono, wall, cmds: out };
}

/** Fencing tokens and task ids: decimal strings on the wire, numbers inside (below 2^53). */
export function formatId(n: number): string {
  return String(n);
}

/** The number a wire id / token stands for, or null if it is not a canonical positive decimal below 2^53. */
export function parseId(s: unknown): number | null {
  if (typeof s !== 'string' || !isDecimal(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

/** /^[1-9][0-9]{0,15}$/.test as a char loop (ids and tokens of every ack item go through here). */
function isDecimal(s: string): boolean {
  if (s.length === 0 || s.length > 16) return false;
  const first = s.charCodeAt(0);
  if (first < 0x31 || first > 0x39) return false;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
