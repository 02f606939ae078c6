import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FRAME_ACK,
  FrameReader,
  MagicReader,
  PEER_MAGIC,
  decodeAck,
  encodeAck,
  encodeFrame,
  splitHostPort,
} from '../../../src/rpc/peer-frames.js';

const frame = fc.record({
  kind: fc.integer({ min: 0, max: 255 }),
  mac: fc.uint8Array({ maxLength: 40 }),
  body: fc.uint8Array({ maxLength: 300 }),
});

/** Cuts `bytes` at the given offsets. */
function cut(bytes: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((a) => a % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

describe('rpc - raw peer stream frames', () => {
  it('reads back every frame, in order, however the bytes are cut', () => {
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (frames, at) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.kind, f.body, f.mac)));
        const reader = new FrameReader(1024);
        const got = cut(bytes, at).flatMap((piece) => {
          const r = reader.push(piece);
          if (typeof r === 'string') throw new Error(r);
          return r;
        });
        expect(got.map((f) => [f.kind, Buffer.from(f.mac), Buffer.from(f.body)])).toEqual(
          frames.map((f) => [f.kind, Buffer.from(f.mac), Buffer.from(f.body)]),
        );
      }),
    );
  });

  it('refuses a frame over the limit before it arrives, and lengths that cannot hold the header or MAC', () => {
    expect(new FrameReader(100).push(encodeFrame(1, new Uint8Array(99)).subarray(0, 6))).toMatch(/over the limit/);
    expect(new FrameReader(100).push(Buffer.from([0, 0, 0, 1, 1]))).toMatch(/below its header/);
    expect(new FrameReader(100).push(Buffer.from([0, 0, 1, 0]))).toMatch(/over the limit/);
    expect(new FrameReader(100).push(Buffer.from([0, 0, 0, 3, 1, 2, 0]))).toMatch(/MAC length/);
  });

  it('round-trips acknowledgement counts and refuses other bodies', () => {
    for (const n of [0, 1, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
      const r = new FrameReader(64).push(encodeAck(n));
      expect(typeof r === 'string' ? r : r.map((f) => [f.kind, decodeAck(f.body)])).toEqual([[FRAME_ACK, n]]);
    }
    expect(decodeAck(new Uint8Array(7))).toBeNull();
    expect(decodeAck(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBeNull();
  });

  it('reads the opening bytes across reads, and refuses anything else at the first wrong byte', () => {
    const m = new MagicReader();
    expect(m.push(PEER_MAGIC.subarray(0, 3))).toBe('more');
    expect(m.push(Buffer.concat([PEER_MAGIC.subarray(3), Buffer.from('xy')]))).toEqual(Buffer.from('xy'));
    expect(new MagicReader().push(Buffer.from('RAX'))).toBe('bad');
    expect(new MagicReader().push(Buffer.from('\x00\x00\x18\x04'))).toBe('bad');
  });

  it('tells an HTTP/2 answer (a port without the raw stream) from bytes lost on the way', () => {
    const settings = Buffer.from([0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100]);
    const h2 = new MagicReader();
    expect(h2.push(settings.subarray(0, 4))).toBe('bad');
    expect(h2.http2()).toBe('more');
    h2.push(settings.subarray(4));
    expect(h2.http2()).toBe(true);
    // An acknowledgement frame whose PEER_MAGIC was lost, a SETTINGS ack on a stream, garbage.
    for (const answer of [encodeAck(3), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 1]), Buffer.from('HTTP/1.1 400 Bad')]) {
      const m = new MagicReader();
      expect(m.push(answer)).toBe('bad');
      expect(m.http2()).toBe(false);
    }
  });

  it('splits host and port, IPv6 included', () => {
    expect(splitHostPort('127.0.0.1:7101')).toEqual({ host: '127.0.0.1', port: 7101 });
    expect(splitHostPort('[::1]:7101')).toEqual({ host: '::1', port: 7101 });
  });
});
