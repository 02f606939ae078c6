// The fast serializer of Submit messages (src/protocol/proto-encode.ts): the same bytes as
// proto-loader's for any value, and the SDK's own requests take the fast path.
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { CoalescingTransport } from '../../../src/client/coalesce.js';
import { GrpcTransport } from '../../../src/client/grpc-transport.js';
import type { Message, Transport } from '../../../src/client/transport.js';
import { withFastEncoders } from '../../../src/protocol/proto-encode.js';
import { CLIENT_SERVICE, protoFilePath, type ProtoMethod } from '../../../src/protocol/proto.js';
import { ClientServer } from '../../../src/rpc/client-server.js';
import { loadProtoFile } from '../../../src/rpc/proto.js';
import { MachineExecutor } from '../client/machine-executor.js';

const loaded = loadProtoFile('client.proto')[CLIENT_SERVICE] as unknown as Record<string, ProtoMethod>;
const requests = withFastEncoders(loaded, 'request');
const replies = withFastEncoders(loaded, 'response');
const slowRequest = (loaded['SubmitStream'] as ProtoMethod).requestSerialize;
const fastRequest = (requests['SubmitStream'] as ProtoMethod).requestSerialize;
const root = new protobuf.Root().loadSync(protoFilePath('client.proto'), { keepCase: true });
const streamRequest = root.lookupType('raftq.client.v1.SubmitStreamRequest');

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** Both serializers' outcome for `value`: the bytes, or that it threw. */
function outcomes(slow: (v: unknown) => Buffer, fast: (v: unknown) => Buffer, value: unknown): [unknown, unknown] {
  const run = (f: (v: unknown) => Buffer): unknown => {
    try {
      return Buffer.from(f(value)).toString('hex');
    } catch {
      return 'threw';
    }
  };
  return [run(slow), run(fast)];
}

// An integer outside 0..2^53-1 in a 64-bit field is the one difference (the two paths wrap it
// differently); the domain leaves those out (proto-encode.ts says why none is ever sent).
const notNegative = (v: unknown): boolean =>
  typeof v !== 'number' || !Number.isInteger(v) || (v >= 0 && v <= Number.MAX_SAFE_INTEGER);
const loose = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: fc.anything().filter(notNegative) });

const task = fc.record(
  {
    payload: loose(fc.uint8Array({ maxLength: 16 })),
    headers: loose(fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 3 })),
    priority: loose(fc.integer({ min: -100, max: 100 })),
    delayMs: loose(fc.nat()),
    idempotencyKey: loose(fc.string({ maxLength: 6 })),
    maxAttempts: loose(fc.nat(20)),
    dependsOn: loose(fc.array(fc.record({ queue: fc.string({ maxLength: 3 }), id: fc.string({ maxLength: 3 }) }))),
  },
  { requiredKeys: [] },
);
const header = fc.record(
  { session: loose(fc.string({ maxLength: 6 })), seq: loose(fc.nat()), timeoutMs: loose(fc.nat()) },
  { requiredKeys: [] },
);
const item = fc.oneof(
  fc.record({ enqueue: fc.record({ header, queue: loose(fc.string()), tasks: fc.array(task, { maxLength: 3 }) }) }),
  fc.record({
    ack: fc.record({ header, queue: loose(fc.string()), id: loose(fc.string()), leaseToken: loose(fc.string()) }),
  }),
  fc.record({
    lease: fc.record({ header, queue: loose(fc.string()), max: loose(fc.nat(10)), maxHoldMs: loose(fc.nat()) }),
  }),
  fc.anything(),
);

describe('protocol - the fast Submit serializer', () => {
  it('gives the bytes of fromObject-then-encode for any value, or throws where it throws', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            id: loose(fc.nat()),
            timeoutMs: loose(fc.nat()),
            cancel: loose(fc.boolean()),
            submit: fc.record({ items: fc.array(item, { maxLength: 4 }) }),
          },
          { requiredKeys: [] },
        ),
        (value) => {
          const [slow, fast] = outcomes(slowRequest, fastRequest, value);
          expect(fast).toEqual(slow);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('names an enum the old way (a read by consistency name)', () => {
    const value = {
      id: 1,
      submit: { items: [{ enqueue: { queue: 'q', tasks: [{ payload: Buffer.from('x'), priority: 1.5 }] } }] },
    };
    expect(streamRequest.verify(value)).not.toBeNull();
    const [slow, fast] = outcomes(slowRequest, fastRequest, value);
    expect(fast).toEqual(slow);
    const reply = { id: 2, submit: { results: [{ enqueue: { ids: ['a'] } }] } };
    const [s2, f2] = outcomes(
      (loaded['SubmitStream'] as ProtoMethod).responseSerialize,
      (replies['SubmitStream'] as ProtoMethod).responseSerialize,
      reply,
    );
    expect(f2).toEqual(s2);
  });

  it("takes the fast path for the SDK's own Submits, with the old path's bytes", async () => {
    const server = await ClientServer.start({ address: '127.0.0.1:0', executor: new MachineExecutor() });
    cleanup.push(() => server.close());
    const inner = new GrpcTransport();
    const sent: Message[] = [];
    const capture: Transport = {
      call: (address, method, request, timeoutMs, signal) => {
        if (method === 'Submit') sent.push(request);
        return inner.call(address, method, request, timeoutMs, signal);
      },
      stream: (address, method, request, handlers) => inner.stream(address, method, request, handlers),
      close: () => inner.close(),
      streamsSubmit: (address) => inner.streamsSubmit(address),
    };
    // As the Client's default transport: the coalescer sends every command as a Submit.
    const transport = new CoalescingTransport(capture);
    const client = new Client({ servers: [server.address], transport, timeoutMs: 5_000 });
    cleanup.push(() => client.close({ timeoutMs: 1_000 }));
    const q = client.queue<string>('fast.q');
    await q.enqueue('a', { priority: 3, headers: { k: 'v' }, idempotencyKey: 'i1', delayMs: 0, maxAttempts: 2 });
    await q.enqueueMany([{ payload: 'b' }, { payload: 'c', key: 'tenant' }]);
    const done: string[] = [];
    let failed = false;
    const w = client.worker<string>(
      'fast.q',
      (t) => {
        if (t.payload === 'c' && !failed) {
          failed = true;
          throw new Error('once');
        }
        done.push(t.payload);
      },
      { concurrency: 2 },
    );
    cleanup.push(() => w.close({ timeoutMs: 1_000 }));
    // 'a', 'b' done; 'c' failed once (a nack; its retry waits out the queue's backoff).
    await expect.poll(() => failed && done.length >= 2, { timeout: 5_000 }).toBe(true);
    const kinds = new Set<string>();
    await expect
      .poll(
        () => {
          for (const submit of sent) {
            for (const it of (submit['items'] as Message[]) ?? [])
              kinds.add(Object.keys(it).find((k) => k !== 'command') ?? '');
          }
          return kinds.has('nack');
        },
        { timeout: 5_000 },
      )
      .toBe(true);
    for (const submit of sent) {
      const value = { id: 1, submit, timeoutMs: 1_000 };
      expect(streamRequest.verify(value)).toBeNull();
      expect(fastRequest(value)).toEqual(slowRequest(value));
    }
    expect([...kinds]).toEqual(expect.arrayContaining(['enqueue', 'lease', 'ack', 'nack']));
  });
});
