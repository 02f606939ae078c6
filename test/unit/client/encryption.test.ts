// End-to-end payload encryption (issue #14): AES-256-GCM under key ids; rotation keeps old ids
// opening; an unknown id, a wrong key, altered bytes or a plaintext payload are `undecryptable`;
// bad keys are refused with INVALID_ARGUMENT naming them.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodePayload, encodePayload } from '../../../src/client/codec.js';
import { encryptedCodec } from '../../../src/client/encryption.js';
import { msgpackCodec } from '../../../src/index.js';

const k1 = randomBytes(32);
const k2 = randomBytes(32).toString('hex');

describe('client - payload encryption', () => {
  it('seals and opens values; the bytes hold no plaintext and differ each time', () => {
    const c = encryptedCodec({ keys: { k1 }, current: 'k1' });
    const value = { secret: 'the-plaintext-marker', n: [1, 2, 3] };
    const a = c.encode(value);
    const b = c.encode(value);
    expect(Buffer.from(a).includes('the-plaintext-marker')).toBe(false);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(c.decode(a)).toEqual(value);
    // Through the SDK's payload path (large payloads are gzipped after sealing).
    const big = { blob: 'x'.repeat(100_000) };
    const enc = encodePayload(big, { codec: c, compressAboveBytes: 64 * 1024 });
    expect(decodePayload(enc.payload, enc.headers, c)).toEqual(big);
  });

  it('rotation: a new current id seals, the old id still opens', () => {
    const old = encryptedCodec({ keys: { k1 }, current: 'k1' });
    const sealedOld = old.encode('before');
    const rotated = encryptedCodec({ keys: { k1, k2 }, current: 'k2' });
    const sealedNew = rotated.encode('after');
    expect(rotated.decode(sealedOld)).toBe('before');
    expect(rotated.decode(sealedNew)).toBe('after');
    expect(() => old.decode(sealedNew)).toThrow(/^undecryptable: no key "k2"/);
  });

  it('a wrong key, altered bytes, a moved key id or a plaintext payload are undecryptable', () => {
    const c = encryptedCodec({ keys: { k1 }, current: 'k1' });
    const sealed = Buffer.from(c.encode({ a: 1 }));
    const wrong = encryptedCodec({ keys: { k1: randomBytes(32) }, current: 'k1' });
    expect(() => wrong.decode(sealed)).toThrow(/^undecryptable: key "k1" does not open it/);
    const altered = Buffer.from(sealed);
    altered[altered.length - 1] = (altered[altered.length - 1] as number) ^ 1;
    expect(() => c.decode(altered)).toThrow(/^undecryptable/);
    // The same key under another id: the id is authenticated, so it does not open.
    const both = encryptedCodec({ keys: { k1, k9: k1 }, current: 'k1' });
    const moved = Buffer.concat([Buffer.from('rqe1'), Buffer.from([2]), Buffer.from('k9'), sealed.subarray(7)]);
    expect(() => both.decode(moved)).toThrow(/^undecryptable: key "k9" does not open it/);
    expect(() => c.decode(msgpackCodec.encode({ a: 1 }))).toThrow(/^undecryptable: the payload is not encrypted/);
    expect(() => c.decode(sealed.subarray(0, 10))).toThrow(/^undecryptable: truncated/);
  });

  it('refuses bad keys and a current id without a key, naming them', () => {
    expect(() => encryptedCodec({ keys: { k1: randomBytes(16) }, current: 'k1' })).toThrow(
      /^INVALID_ARGUMENT: encryption\.keys\.k1: must be 32 bytes/,
    );
    expect(() => encryptedCodec({ keys: { 'a b': k1 }, current: 'a b' })).toThrow(
      /^INVALID_ARGUMENT: encryption\.keys\.a b: a key id/,
    );
    expect(() => encryptedCodec({ keys: { k1 }, current: 'k2' })).toThrow(
      /^INVALID_ARGUMENT: encryption\.current: "k2" is not among/,
    );
    expect(
      encryptedCodec({ keys: { k1: k1.toString('base64') }, current: 'k1' }).decode(
        encryptedCodec({ keys: { k1 }, current: 'k1' }).encode(7),
      ),
    ).toBe(7);
  });
});

describe('client - a client without keys', () => {
  it('refuses a sealed payload as undecryptable instead of handing over the ciphertext', () => {
    const sealed = encryptedCodec({ keys: { k1 }, current: 'k1' }).encode({ a: 1 });
    expect(() => decodePayload(sealed, {}, msgpackCodec)).toThrow(/^undecryptable: the payload is encrypted/);
    // Other bytes that are not one MessagePack value are still delivered raw.
    const raw = decodePayload(new Uint8Array([0x72, 0x71, 0x65]), {}, msgpackCodec) as Uint8Array;
    expect(Array.from(raw)).toEqual([0x72, 0x71, 0x65]);
  });
});
