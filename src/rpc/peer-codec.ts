// Wire codec for Raft messages between peers: msgpackr bytes plus a defensive validator. Everything
// here is pure and total: decoding hostile bytes returns an error string, it never throws.
import { assertNever } from '../protocol/assert.js';
import { encode, tryDecode } from '../protocol/codec.js';
import { EntryType, MessageType } from '../raft/types.js';
import type { Entry, Member, Membership, Message, SnapshotMeta } from '../raft/types.js';
import type { LogIndex, Term } from '../protocol/ids.js';

/** Bounds on decoded strings and arrays; gRPC's message size limit bounds the total. */
export const CODEC_LIMITS = {
  idLengthMax: 256,
  addressLengthMax: 1024,
  membersMax: 1024,
} as const;

/** The gRPC method that carries each message type (see peer.proto). */
export type PeerMethod = 'Append' | 'Vote' | 'PreVote' | 'Heartbeat' | 'TimeoutNow' | 'Respond' | 'InstallSnapshot';

export function methodFor(type: MessageType): PeerMethod {
  switch (type) {
    case MessageType.Append:
    case MessageType.Vote:
    case MessageType.PreVote:
    case MessageType.Heartbeat:
    case MessageType.TimeoutNow:
      return type;
    case MessageType.Snapshot:
      return 'InstallSnapshot';
    case MessageType.AppendResp:
    case MessageType.VoteResp:
    case MessageType.PreVoteResp:
    case MessageType.HeartbeatResp:
    case MessageType.SnapshotResp:
      return 'Respond';
    default:
      return assertNever(type, 'unexpected message type');
  }
}

/** The readable routing header of peer.proto, derived from the message. */
export interface PeerHeader {
  group: number;
  term: number;
  from: string;
  to: string;
  type: string;
}

export function headerOf(msg: Message): PeerHeader {
  return { group: msg.group, term: msg.term, from: msg.from, to: msg.to, type: msg.type };
}

/** Null if the header agrees with the message, else what differs. */
export function headerMismatch(header: unknown, msg: Message): string | null {
  if (!isRecord(header)) return 'header: missing';
  for (const key of ['group', 'term', 'from', 'to', 'type'] as const) {
    if (header[key] !== msg[key]) return `header.${key}: disagrees with the message`;
  }
  return null;
}

/** Encodes with the project's one deterministic msgpackr codec (src/protocol/codec.ts). */
export function encodeMessage(msg: Message): Uint8Array {
  return encode(msg);
}

/** Unpacks and validates; an error string for anything that is not a well-formed Message. */
export function decodeMessage(bytes: Uint8Array): Message | string {
  const decoded = tryDecode(bytes);
  if (!decoded.ok) return 'msgpack: undecodable';
  return validateMessage(decoded.value);
}

const MESSAGE_TYPES: ReadonlySet<unknown> = new Set(Object.values(MessageType));
const ENTRY_TYPES: ReadonlySet<unknown> = new Set(Object.values(EntryType));

/** Thrown only inside this module, turned into the returned string. */
class Invalid {
  constructor(readonly reason: string) {}
}

/**
 * Checks the shape of an unpacked value and rebuilds it as a Message with only the known fields
 * (byte fields as plain Uint8Array views). Returns a reason string instead of throwing.
 */
export function validateMessage(x: unknown): Message | string {
  try {
    return readMessage(x);
  } catch (err) {
    if (err instanceof Invalid) return err.reason;
    // Defensive: a getter or exotic object in hand-built input; unpacked data never gets here.
    return `invalid: ${err instanceof Error ? err.message : 'unexpected value'}`;
  }
}

function readMessage(x: unknown): Message {
  const o = record(x, 'message');
  const type = o['type'];
  if (!MESSAGE_TYPES.has(type)) fail('type: not a known MessageType');
  const msg: Message = {
    type: type as MessageType,
    group: uint(o['group'], 'group'),
    term: uint(o['term'], 'term'),
    from: id(o['from'], 'from'),
    fromStorage: str(o['fromStorage'], 'fromStorage', CODEC_LIMITS.idLengthMax),
    to: id(o['to'], 'to'),
  };
  if (present(o['fromAddress'])) msg.fromAddress = str(o['fromAddress'], 'fromAddress', CODEC_LIMITS.idLengthMax);
  if (present(o['toStorage'])) msg.toStorage = str(o['toStorage'], 'toStorage', CODEC_LIMITS.idLengthMax);
  for (const key of ['index', 'logTerm', 'commit', 'rejectHint', 'rejectTerm', 'context', 'snapshotIndex'] as const) {
    const v = o[key];
    if (present(v)) msg[key] = uint(v, key);
  }
  for (const key of ['reject', 'transfer'] as const) {
    const v = o[key];
    if (present(v)) msg[key] = bool(v, key);
  }
  if (present(o['entries'])) msg.entries = readEntries(o['entries']);
  if (present(o['snapshot'])) msg.snapshot = readSnapshotChunk(o['snapshot'], msg.group);
  if (msg.type === MessageType.Snapshot && msg.snapshot === undefined) fail('snapshot: required for Snapshot');
  return msg;
}

function readEntries(x: unknown): Entry[] {
  if (!Array.isArray(x)) fail('entries: not an array');
  const entries: Entry[] = [];
  for (let i = 0; i < x.length; i += 1) {
    const at = `entries[${i}]`;
    const o = record(x[i], at);
    if (!ENTRY_TYPES.has(o['type'])) fail(`${at}.type: not a known EntryType`);
    const entry: Entry = {
      index: uint(o['index'], `${at}.index`) as LogIndex,
      term: uint(o['term'], `${at}.term`) as Term,
      type: o['type'] as EntryType,
      data: bytes(o['data'], `${at}.data`),
    };
    if (present(o['config'])) entry.config = readMembership(o['config'], `${at}.config`);
    if (entry.type === EntryType.Config && entry.config === undefined) fail(`${at}.config: required for Config`);
    entries.push(entry);
  }
  return entries;
}

function readSnapshotChunk(x: unknown, group: number): NonNullable<Message['snapshot']> {
  const o = record(x, 'snapshot');
  const meta = readSnapshotMeta(o['meta']);
  if (meta.group !== group) fail('snapshot.meta.group: differs from the message group');
  const offset = uint(o['offset'], 'snapshot.offset');
  const chunk = bytes(o['chunk'], 'snapshot.chunk');
  const total = uint(o['total'], 'snapshot.total');
  const done = bool(o['done'], 'snapshot.done');
  // Offsets versus total are the core's to judge (it owns the chunking); only shapes are checked here.
  return { meta, offset, chunk, done, total };
}

function readSnapshotMeta(x: unknown): SnapshotMeta {
  const o = record(x, 'snapshot.meta');
  return {
    group: uint(o['group'], 'snapshot.meta.group'),
    index: uint(o['index'], 'snapshot.meta.index') as LogIndex,
    term: uint(o['term'], 'snapshot.meta.term') as Term,
    membership: readMembership(o['membership'], 'snapshot.meta.membership'),
  };
}

function readMembership(x: unknown, at: string): Membership {
  const o = record(x, at);
  const membership: Membership = { members: readMembers(o['members'], `${at}.members`) };
  if (present(o['outgoing'])) membership.outgoing = readMembers(o['outgoing'], `${at}.outgoing`);
  return membership;
}

function readMembers(x: unknown, at: string): Member[] {
  if (!Array.isArray(x)) fail(`${at}: not an array`);
  if (x.length > CODEC_LIMITS.membersMax) fail(`${at}: more than ${CODEC_LIMITS.membersMax} members`);
  return x.map((m: unknown, i) => {
    const o = record(m, `${at}[${i}]`);
    const role = o['role'];
    if (role !== 'voter' && role !== 'learner') fail(`${at}[${i}].role: not voter or learner`);
    const member: Member = {
      id: id(o['id'], `${at}[${i}].id`),
      storageId: str(o['storageId'], `${at}[${i}].storageId`, CODEC_LIMITS.idLengthMax),
      address: str(o['address'], `${at}[${i}].address`, CODEC_LIMITS.addressLengthMax),
      role,
    };
    if (present(o['peerAddress']))
      member.peerAddress = str(o['peerAddress'], `${at}[${i}].peerAddress`, CODEC_LIMITS.addressLengthMax);
    return member;
  });
}

function fail(reason: string): never {
  throw new Invalid(reason);
}

/** msgpack has nil and an undefined extension; both mean "field absent". */
function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x);
}

function record(x: unknown, at: string): Record<string, unknown> {
  if (!isRecord(x)) fail(`${at}: not an object`);
  return x;
}

function uint(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${at}: not a non-negative safe integer`);
  return v;
}

function bool(v: unknown, at: string): boolean {
  if (typeof v !== 'boolean') fail(`${at}: not a boolean`);
  return v;
}

function str(v: unknown, at: string, lengthMax: number): string {
  if (typeof v !== 'string') fail(`${at}: not a string`);
  if (v.length > lengthMax) fail(`${at}: longer than ${lengthMax}`);
  return v;
}

function id(v: unknown, at: string): string {
  const s = str(v, at, CODEC_LIMITS.idLengthMax);
  if (s.length === 0) fail(`${at}: empty`);
  return s;
}

function bytes(v: unknown, at: string): Uint8Array {
  if (!(v instanceof Uint8Array)) fail(`${at}: not bytes`);
  // msgpackr hands out Buffers; a plain view keeps equality checks and consumers type-exact.
  return v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
