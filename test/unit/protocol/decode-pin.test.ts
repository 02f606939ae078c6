// Pins what the hot decode paths answer (issue 11): envelope decoding, command validation and the
// peer codec, over a large seeded corpus of valid and near-valid inputs. The golden digests were
// taken on the code before its rewrite for speed, so any change to a result, an error string, a
// key order or an encoded byte shows here. A digest that moves is a behaviour change: do not
// re-pin it without a decisions.md entry saying why.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, parseId } from '../../../src/protocol/codec.js';
import { LEASE_SECRET_RE, isLeaseSecret } from '../../../src/protocol/lease-secret.js';
import type { Envelope } from '../../../src/protocol/commands.js';
import { DEFAULT_LIMITS, type Limits } from '../../../src/protocol/limits.js';
import { validateCommand } from '../../../src/protocol/validate.js';
import { decodeMessage, encodeMessage, validateMessage } from '../../../src/rpc/peer-codec.js';
import type { Message } from '../../../src/raft/types.js';
import { arbitraryMessage } from '../rpc/helpers.js';

const SEED = 1102;

/** Type-exact text of a value: key order, undefined, -0 and the byte container all count. */
function canon(v: unknown): string {
  if (v === undefined) return 'u';
  if (v === null) return 'n';
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : `#${v}`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') return v ? 'T' : 'F';
  if (v instanceof Uint8Array) return `${v.constructor.name}<${Buffer.from(v).toString('hex')}>`;
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .map((k) => `${JSON.stringify(k)}:${canon(o[k])}`)
      .join(',')}}`;
  }
  return `?${typeof v}`;
}

class Digest {
  private readonly h = createHash('sha256');
  ok = 0;
  refused = 0;
  add(label: string, result: unknown, accepted: boolean): void {
    this.h.update(`${label}=${canon(result)}\n`);
    if (accepted) this.ok++;
    else this.refused++;
  }
  hex(): string {
    return this.h.digest('hex');
  }
}

// Values that break one rule or another: wrong type, out of range, not canonical, empty.
const BAD: unknown[] = [
  null,
  -1,
  0,
  1.5,
  2 ** 53,
  '',
  'x',
  '0',
  '01',
  '9007199254740993',
  'bad name!',
  true,
  new Uint8Array([1, 2]),
  [],
  {},
  'A'.repeat(300),
];
const bad = fc.constantFrom(...BAD);
const maybeBad = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 25, arbitrary: good }, { weight: 1, arbitrary: bad });

const idStr = fc.oneof(fc.integer({ min: 1, max: 10_000 }), fc.maxSafeNat()).map((n) => String(Math.max(1, n)));
const queue = fc.constantFrom('q', 'bench', 'a.b:c/d-e_f', 'orders');
const smallInt = fc.integer({ min: -5, max: 5_000 });
const secret = fc.constantFrom('abcdefghijklmnop', 'A_b-C'.repeat(5), 'short');
const payload = fc.uint8Array({ maxLength: 48 });

const task = fc.record(
  {
    payload: maybeBad(payload),
    headers: maybeBad(fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 8 }), { maxKeys: 4 })),
    priority: maybeBad(smallInt),
    delayMs: maybeBad(smallInt),
    runAt: maybeBad(smallInt),
    idempotencyKey: maybeBad(fc.string({ minLength: 1, maxLength: 8 })),
    group: maybeBad(fc.string({ minLength: 1, maxLength: 8 })),
    ttlMs: maybeBad(smallInt),
    maxAttempts: maybeBad(smallInt),
    maxDeliveries: maybeBad(smallInt),
    leaseMs: maybeBad(smallInt),
    key: maybeBad(fc.string({ minLength: 1, maxLength: 8 })),
    cost: maybeBad(fc.integer({ min: 0, max: 3 })),
    dedup: maybeBad(
      fc.record(
        { key: maybeBad(fc.string({ maxLength: 6 })), mode: maybeBad(fc.constantFrom('active', 'throttle', 'x')) },
        { requiredKeys: [] },
      ),
    ),
    id: maybeBad(fc.string({ minLength: 1, maxLength: 8 })),
    backoff: maybeBad(
      fc.record(
        { type: maybeBad(fc.constantFrom('fixed', 'exponential')), delayMs: maybeBad(smallInt), jitterPct: smallInt },
        { requiredKeys: [] },
      ),
    ),
    dependsOn: maybeBad(fc.array(maybeBad(fc.record({ id: maybeBad(idStr) })), { maxLength: 2 })),
  },
  { requiredKeys: ['payload'] },
);

const ackItem = fc.record(
  { id: maybeBad(idStr), token: maybeBad(idStr), secret: maybeBad(secret), result: maybeBad(payload) },
  { requiredKeys: ['id', 'token'] },
);

const settings = fc.record(
  {
    leaseMs: maybeBad(smallInt),
    maxAttempts: maybeBad(smallInt),
    deadLetterQueue: maybeBad(queue),
    maxLength: maybeBad(smallInt),
    retentionMs: maybeBad(smallInt),
    paused: maybeBad(fc.boolean()),
    rate: maybeBad(fc.record({ limit: maybeBad(smallInt), intervalMs: maybeBad(smallInt) })),
    overflow: maybeBad(fc.constantFrom('refuse', 'dropOldest')),
  },
  { requiredKeys: [] },
);

/** Mostly the hot commands (enqueue, lease, ack), a few of the rest, some unknown types. */
const command: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      type: fc.constant('enqueue'),
      queue: maybeBad(queue),
      tasks: maybeBad(fc.array(task, { maxLength: 5 })),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record(
      {
        type: fc.constant('lease'),
        queue: maybeBad(queue),
        workerId: maybeBad(fc.string({ minLength: 1, maxLength: 6 })),
        max: maybeBad(smallInt),
        secret: maybeBad(secret),
        leaseMs: maybeBad(smallInt),
      },
      { requiredKeys: ['type', 'queue', 'workerId', 'max'] },
    ),
  },
  {
    weight: 4,
    arbitrary: fc.record({ type: fc.constant('ack'), items: maybeBad(fc.array(ackItem, { maxLength: 5 })) }),
  },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        type: fc.constantFrom('nack', 'extend', 'release'),
        id: maybeBad(idStr),
        token: maybeBad(idStr),
        secret: maybeBad(secret),
        error: maybeBad(fc.string({ maxLength: 6 })),
        delayMs: maybeBad(smallInt),
        dead: maybeBad(fc.boolean()),
        leaseMs: maybeBad(smallInt),
        progress: maybeBad(smallInt),
        holdMs: maybeBad(smallInt),
        checkpoint: maybeBad(payload),
      },
      { requiredKeys: ['type', 'id', 'token'] },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      { type: fc.constantFrom('createQueue', 'configureQueue'), queue: maybeBad(queue), settings: maybeBad(settings) },
      { requiredKeys: ['type', 'queue'] },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        type: fc.constantFrom('cancel', 'promote', 'update', 'openSession', 'keepAlive', 'nope'),
        id: maybeBad(idStr),
        running: maybeBad(fc.boolean()),
        priority: maybeBad(smallInt),
        timeoutMs: maybeBad(smallInt),
      },
      { requiredKeys: ['type'] },
    ),
  },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
);

const TIGHT: Limits = {
  ...DEFAULT_LIMITS,
  payloadBytesMax: 24,
  headersMax: 2,
  headerBytesMax: 12,
  enqueueBatchMax: 3,
  ackBatchMax: 3,
  leaseBatchMax: 50,
  keyBytesMax: 5,
};

const sessionCommand = fc.record(
  {
    session: maybeBad(fc.oneof(fc.constant(null), fc.string({ minLength: 1, maxLength: 8 }))),
    seq: maybeBad(fc.nat(100)),
    floor: maybeBad(fc.nat(100)),
    cmd: command,
  },
  { requiredKeys: ['cmd'] },
);

const envelope = fc.record({
  v: maybeBad(fc.constant(1)),
  mono: maybeBad(fc.nat()),
  wall: maybeBad(fc.maxSafeNat()),
  cmds: maybeBad(fc.array(sessionCommand, { maxLength: 4 })),
});

/** A byte flipped here and there, or a cut: undecodable and wrongly shaped bytes. */
function damaged(bytes: Uint8Array, at: number, byte: number, cut: boolean): Uint8Array {
  const out = cut ? bytes.slice(0, at % (bytes.length + 1)) : Uint8Array.from(bytes);
  if (!cut && out.length > 0) out[at % out.length] = byte;
  return out;
}
const damage = fc.record({ at: fc.nat(), byte: fc.nat(255), cut: fc.boolean() });

describe('decode and validate results are pinned (issue 11)', () => {
  it('validateCommand over valid and near-valid commands, at default and tight limits', () => {
    const d = new Digest();
    for (const [i, cmd] of fc.sample(command, { seed: SEED, numRuns: 6000 }).entries()) {
      for (const limits of [DEFAULT_LIMITS, TIGHT]) {
        const r = validateCommand(cmd, limits);
        d.add(`c${i}`, r, r.ok);
      }
    }
    expect({ ok: d.ok, refused: d.refused, digest: d.hex() }).toEqual(GOLDEN.commands);
  });

  it('envelopes: encoded bytes, decodeEnvelope, then each command validated as apply does', () => {
    const d = new Digest();
    const cases = fc.sample(fc.tuple(envelope, damage), { seed: SEED + 1, numRuns: 3000 });
    for (const [i, [env, dmg]] of cases.entries()) {
      const bytes = encodeEnvelope(env as Envelope);
      d.add(`e${i}.bytes`, bytes, true);
      for (const input of [bytes, damaged(bytes, dmg.at, dmg.byte, dmg.cut)]) {
        const decoded = decodeEnvelope(input);
        d.add(`e${i}`, decoded, decoded !== null);
        for (const sc of decoded?.cmds ?? []) d.add(`e${i}.cmd`, validateCommand(sc.cmd, DEFAULT_LIMITS), true);
      }
    }
    expect({ ok: d.ok, refused: d.refused, digest: d.hex() }).toEqual(GOLDEN.envelopes);
  });

  it('peer messages: encoded bytes, decodeMessage of whole, field-broken and damaged messages', () => {
    const d = new Digest();
    const broken = fc.tuple(arbitraryMessage, fc.nat(40), bad, damage);
    for (const [i, [msg, field, value, dmg]] of fc.sample(broken, { seed: SEED + 2, numRuns: 3000 }).entries()) {
      const bytes = encodeMessage(msg);
      d.add(`m${i}.bytes`, bytes, true);
      const whole = decodeMessage(bytes);
      d.add(`m${i}`, whole, typeof whole !== 'string');
      const r = validateMessage(breakField(msg, field, value));
      d.add(`m${i}.field`, r, typeof r !== 'string');
      const dm = decodeMessage(damaged(bytes, dmg.at, dmg.byte, dmg.cut));
      d.add(`m${i}.damaged`, dm, typeof dm !== 'string');
    }
    expect({ ok: d.ok, refused: d.refused, digest: d.hex() }).toEqual(GOLDEN.peer);
  });
});

/** The message with its `n`th field (depth first, entries and members included) set to `value`. */
function breakField(msg: Message, n: number, value: unknown): unknown {
  const copy = structuredClone(msg) as unknown;
  let left = n;
  const visit = (o: unknown): boolean => {
    if (typeof o !== 'object' || o === null || o instanceof Uint8Array) return false;
    const rec = o as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      if (left-- === 0) {
        rec[k] = value;
        return true;
      }
      if (visit(rec[k])) return true;
    }
    return false;
  };
  visit(copy);
  return copy;
}

const GOLDEN = {
  commands: { ok: 2382, refused: 9618, digest: '632a6f4655c4904453b6f22fb61f802b6e0a68983c8d1789583cc70af90e9170' },
  envelopes: { ok: 9932, refused: 3435, digest: '529bb8cb7cbb3036a36602f79c21fd2073c37c46fea6ccf2f7dde619c0d56a77' },
  peer: { ok: 7416, refused: 4584, digest: '7dc72d3cba1b799e6da14a0477eeb59d8f997e7b53bf9b0f00f90d72c17e1e5f' },
};

describe('the char loops agree with the regular expressions they replaced (issue 11)', () => {
  // Mostly strings of the accepted characters at every length near the bounds, some with a stray one.
  const near = (good: string, stray: string) =>
    fc.oneof(
      fc.string({ unit: fc.constantFrom(...good.split('')), maxLength: 70 }),
      fc.string({ unit: fc.constantFrom(...good.split('')), minLength: 14, maxLength: 66 }),
      fc.string({ unit: fc.constantFrom(...(good + stray).split('')), maxLength: 70 }),
      fc.string({ maxLength: 70 }),
      fc.string({ unit: 'binary', maxLength: 20 }),
    );
  it('parseId accepts exactly /^[1-9][0-9]{0,15}$/ below 2^53', () => {
    let accepted = 0;
    const decimal = /^[1-9][0-9]{0,15}$/;
    fc.assert(
      fc.property(near('0123456789', '\n -+.e'), (s) => {
        const n = Number(s);
        accepted += parseId(s) === null ? 0 : 1;
        expect(parseId(s)).toBe(decimal.test(s) && Number.isSafeInteger(n) ? n : null);
      }),
      { seed: SEED, numRuns: 20_000 },
    );
    expect(accepted).toBeGreaterThan(1000);
  });
  it('isLeaseSecret accepts exactly LEASE_SECRET_RE', () => {
    let accepted = 0;
    fc.assert(
      fc.property(near('azAZ09_-', '/+=.\n~`@[{'), (s) => {
        accepted += isLeaseSecret(s) ? 1 : 0;
        expect(isLeaseSecret(s)).toBe(LEASE_SECRET_RE.test(s));
      }),
      { seed: SEED, numRuns: 20_000 },
    );
    expect(accepted).toBeGreaterThan(1000);
  });
});
