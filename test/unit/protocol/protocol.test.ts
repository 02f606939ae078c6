import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_LIMITS,
  ERROR_TABLE,
  decodeEnvelope,
  encode,
  encodeEnvelope,
  parseId,
  validateCommand,
  type Envelope,
} from '../../../src/protocol/index.js';

describe('protocol - envelope codec', () => {
  it('round-trips envelopes and encodes deterministically', () => {
    const env: Envelope = {
      v: 1,
      mono: 1234,
      wall: 1_700_000_000_000,
      cmds: [
        {
          session: 's1',
          seq: 3,
          floor: 2,
          cmd: { type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([1, 2]) }] },
        },
        { session: null, seq: 0, cmd: { type: 'advanceTime' } },
      ],
    };
    const bytes = encodeEnvelope(env);
    expect(Buffer.from(encodeEnvelope(env)).equals(Buffer.from(bytes))).toBe(true);
    const back = decodeEnvelope(bytes);
    expect(back).not.toBeNull();
    expect(back?.mono).toBe(1234);
    expect(back?.cmds[0]?.floor).toBe(2);
    expect(back?.cmds[1]?.session).toBeNull();
  });

  it('rejects shells that are not envelopes', () => {
    expect(decodeEnvelope(encode({ v: 2, mono: 1, wall: 1, cmds: [] }))).toBeNull();
    expect(decodeEnvelope(encode({ v: 1, mono: -1, wall: 1, cmds: [] }))).toBeNull();
    expect(decodeEnvelope(encode({ v: 1, mono: 1, wall: 1, cmds: [{ session: 's', seq: 0, cmd: {} }] }))).toBeNull();
    expect(decodeEnvelope(encode([1, 2, 3]))).toBeNull();
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const r = decodeEnvelope(bytes);
        expect(r === null || typeof r === 'object').toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('protocol - ids and error table', () => {
  it('parses only canonical decimal ids below 2^53', () => {
    expect(parseId('1')).toBe(1);
    expect(parseId('9007199254740991')).toBe(9007199254740991);
    expect(parseId('9007199254740992')).toBeNull();
    expect(parseId('01')).toBeNull();
    expect(parseId('0')).toBeNull();
    expect(parseId(5)).toBeNull();
  });

  it('maps every code to a gRPC status and a retry policy per docs/design.md §5', () => {
    expect(ERROR_TABLE.NOT_LEADER.grpc).toBe('UNAVAILABLE');
    expect(ERROR_TABLE.SESSION_EXPIRED.grpcCode).toBe(9);
    expect(ERROR_TABLE.UNAVAILABLE.outcome).toBe('unknown');
    expect(ERROR_TABLE.RESOURCE_EXHAUSTED.retry).toBe('after_delay');
    expect(ERROR_TABLE.LEASE_LOST.outcome).toBe('not_applied');
    expect(ERROR_TABLE.INTERNAL.outcome).toBe('unknown');
  });
});

describe('protocol - validators', () => {
  it('names the offending field of an enqueue', () => {
    const r = validateCommand(
      { type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array(1) }, { payload: 'x' }] },
      DEFAULT_LIMITS,
    );
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('INVALID_ARGUMENT');
      expect(r.error.field).toBe('tasks[1].payload');
    }
  });

  it('normalizes away unknown fields', () => {
    const r = validateCommand({ type: 'cancel', id: '7', extra: 1 }, DEFAULT_LIMITS);
    expect(r).toEqual({ ok: true, value: { type: 'cancel', id: '7' } });
  });

  it('never throws on arbitrary values', () => {
    fc.assert(
      fc.property(fc.anything({ withTypedArray: true }), (v) => {
        const r = validateCommand(v, DEFAULT_LIMITS);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 1000 },
    );
  });
});
