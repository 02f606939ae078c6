// The schedule reads through real protobuf bytes (client.proto Schedule, ScheduleReply, ScheduleList):
// what the state machine's read answers decodes, on the SDK side, to the same view.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ScheduleView } from '../../../src/protocol/schedules.js';
import { READ_WIRE } from '../../../src/protocol/wire-reads.js';
import type { Message } from '../../../src/protocol/wire-values.js';
import { clientMethods } from '../../../src/rpc/proto.js';

const methods = clientMethods();

function viaReply(method: string, msg: Message): Message {
  const m = methods[method];
  if (m === undefined) throw new Error(method);
  return m.responseDeserialize(m.responseSerialize(msg)) as Message;
}

function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const name = fc.stringMatching(/^[A-Za-z0-9._:/-]{1,24}$/);
const nat = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const ms = fc.integer({ min: 0, max: 2 ** 42 });
const timing = fc.oneof(
  fc.record({ cron: fc.constantFrom('0 6 * * *', '*/5 * * * * *'), tz: fc.constantFrom('Europe/Paris', 'UTC') }),
  fc.record({ everyMs: fc.integer({ min: 1000, max: 86_400_000 }) }),
);
const view: fc.Arbitrary<ScheduleView> = fc
  .record({
    queue: name,
    id: name,
    timing,
    extra: fc.record(
      { startAt: ms, endAt: ms, limit: nat, lastSlot: ms, lastTaskId: nat.map(String), lastError: fc.string() },
      { requiredKeys: [] },
    ),
    catchUp: fc.constantFrom('none' as const, 'latest' as const, 'all' as const),
    catchUpMax: fc.integer({ min: 1, max: 1000 }),
    graceMs: ms,
    jitterMs: ms,
    paused: fc.boolean(),
    done: fc.boolean(),
    runs: nat,
    skipped: nat,
    failed: nat,
    nextRuns: fc.array(ms, { maxLength: 5 }),
    task: fc.record(
      {
        payload: fc.uint8Array({ maxLength: 16 }),
        headers: fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.string({ maxLength: 6 }), {
          minKeys: 1,
          maxKeys: 3,
        }),
        priority: fc.integer({ min: -1000, max: 1000 }),
        ttlMs: ms,
        maxAttempts: fc.integer({ min: 1, max: 100 }),
        group: name,
        key: name,
        cost: fc.integer({ min: 1, max: 1000 }),
      },
      { requiredKeys: ['payload'] },
    ),
  })
  .map(({ timing: t, extra, ...rest }) => ({ ...rest, ...t, ...extra }));
const asOf = fc.record({ index: nat, mono: nat, wall: nat });

describe('protocol - wire contract, schedule reads', () => {
  it('GetSchedule and ListSchedules: the views decode to the views encoded', () => {
    fc.assert(
      fc.property(view, fc.array(view, { maxLength: 3 }), asOf, (one, many, at) => {
        const got = READ_WIRE.GetSchedule.reply.decode(
          viaReply('GetSchedule', READ_WIRE.GetSchedule.reply.encode(one, at)),
        );
        expect(plain(got)).toEqual(plain({ schedule: one, asOf: at }));
        const list = READ_WIRE.ListSchedules.reply.decode(
          viaReply('ListSchedules', READ_WIRE.ListSchedules.reply.encode(many, at)),
        );
        expect(plain(list)).toEqual(plain({ schedules: many, asOf: at }));
      }),
      { numRuns: 150 },
    );
  });
});
