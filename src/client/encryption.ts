// End-to-end payload encryption in the SDK (issue #14, docs/security.md): a codec that wraps another
// (msgpack by default) and seals what it encodes with AES-256-GCM from node:crypto under the current
// key id. The broker only ever holds ciphertext — in its log, snapshots, backups and on the wire — and
// never needs the keys; headers and task metadata stay readable for routing. Rotation: add a new key
// id and make it current; payloads sealed under older ids keep opening as long as their key is listed.
// A payload that cannot be opened (unknown key id, wrong key, altered bytes, not encrypted) throws an
// error starting with `undecryptable`: a worker dead-letters such a task at once, it never retries it.
// Results and checkpoints go through the client's codec too, so they are sealed the same way.
// Uint8Array payloads bypass every codec (they travel raw): wrap bytes in an object to seal them.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { isSealed, msgpackCodec, SEALED_MAGIC, type Codec } from './codec.js';
import { raftqError } from './errors.js';

export interface PayloadEncryption {
  /** Key id -> 32-byte key (bytes, or 64 hex characters, or base64 of 32 bytes). */
  keys: Record<string, Uint8Array | string>;
  /** The key id new payloads are sealed under. */
  current: string;
  /** The codec of the plaintext (default msgpack). */
  inner?: Codec;
}

const MAGIC = Buffer.from(SEALED_MAGIC, 'latin1');
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;

function invalid(field: string, message: string): never {
  throw raftqError('INVALID_ARGUMENT', `${field}: ${message}`, { field });
}

function keyBytes(id: string, k: unknown): Buffer {
  let b: Buffer | null = null;
  if (k instanceof Uint8Array) b = Buffer.from(k);
  else if (typeof k === 'string' && /^[0-9a-fA-F]{64}$/.test(k)) b = Buffer.from(k, 'hex');
  else if (typeof k === 'string') b = Buffer.from(k, 'base64');
  if (b === null || b.byteLength !== 32)
    invalid(`encryption.keys.${id}`, 'must be 32 bytes (Uint8Array, 64 hex characters or base64)');
  return b;
}

/** A codec that seals payloads (and results, checkpoints) with AES-256-GCM; see the file comment. */
export function encryptedCodec(options: PayloadEncryption): Codec {
  if (typeof options !== 'object' || options === null) invalid('encryption', 'must be { keys, current }');
  const keys = new Map<string, Buffer>();
  for (const [id, k] of Object.entries(options.keys ?? {})) {
    if (!KEY_ID_RE.test(id)) invalid(`encryption.keys.${id}`, 'a key id is 1-64 letters, digits, _ . -');
    keys.set(id, keyBytes(id, k));
  }
  const current = options.current;
  const currentKey = keys.get(current);
  if (currentKey === undefined) invalid('encryption.current', `"${String(current)}" is not among encryption.keys`);
  const inner = options.inner ?? msgpackCodec;
  const currentId = Buffer.from(current, 'latin1');
  return {
    encode(value: unknown): Uint8Array {
      const plain = inner.encode(value);
      const iv = randomBytes(IV_BYTES);
      const head = Buffer.concat([MAGIC, Buffer.from([currentId.length]), currentId]);
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv);
      cipher.setAAD(head); // binds the key id: a payload cannot be moved under another id
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return new Uint8Array(Buffer.concat([head, iv, cipher.getAuthTag(), body]));
    },
    decode(bytes: Uint8Array): unknown {
      return inner.decode(open(keys, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
    },
  };
}

function open(keys: Map<string, Buffer>, b: Buffer): Buffer {
  if (!isSealed(b)) throw new Error('undecryptable: the payload is not encrypted (rqe1)');
  const idLen = b[MAGIC.length] as number;
  const headLen = MAGIC.length + 1 + idLen;
  if (b.byteLength < headLen + IV_BYTES + TAG_BYTES) throw new Error('undecryptable: truncated payload');
  const id = b.subarray(MAGIC.length + 1, headLen).toString('latin1');
  const key = keys.get(id);
  if (key === undefined) throw new Error(`undecryptable: no key "${id}" among this client's encryption keys`);
  const iv = b.subarray(headLen, headLen + IV_BYTES);
  const tag = b.subarray(headLen + IV_BYTES, headLen + IV_BYTES + TAG_BYTES);
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(b.subarray(0, headLen));
    d.setAuthTag(tag);
    return Buffer.concat([d.update(b.subarray(headLen + IV_BYTES + TAG_BYTES)), d.final()]);
  } catch {
    throw new Error(`undecryptable: key "${id}" does not open it (wrong key or altered bytes)`);
  }
}
