// WaitFor and Events on the client service with an injected clock: timers run on it (no real time),
// all waiters of a node share one event subscription, and both are capped with a clear error.
import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { SessionCommand } from '../../../src/protocol/commands.js';
import { ERROR_METADATA_KEY } from '../../../src/protocol/proto.js';
import { createClientService, type ClientServiceOptions } from '../../../src/rpc/client-service.js';
import { FakeClock, settle } from '../client/fakes.js';
import { MachineExecutor } from '../client/machine-executor.js';

type Outcome = { err: grpc.StatusObject | null; value: unknown };

function setup(options: ClientServiceOptions = {}) {
  const clock = new FakeClock();
  const executor = new MachineExecutor('n1', '127.0.0.1:0', () => clock.now());
  const service = createClientService(executor, { clock, ...options });
  const apply = (cmd: SessionCommand['cmd']) => executor.applyNow([{ session: null, seq: 0, cmd }]).answers[0];
  const enqueue = (): string => {
    const a = apply({ type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([1]) }] });
    if (a === undefined || !a.ok) throw new Error('enqueue failed');
    return (a.value as { items: Array<{ id: string }> }).items[0]?.id ?? '';
  };
  /** One unary call straight into the implementation; the outcome is recorded when it answers. */
  const unary = (method: string, request: Record<string, unknown>): { out: Outcome | null } => {
    const box: { out: Outcome | null } = { out: null };
    const call = { request: { ok: true, value: request }, getDeadline: () => Infinity, on: () => undefined };
    const impl = service.implementation[method] as (c: unknown, cb: (err: unknown, v: unknown) => void) => void;
    impl(call, (err, value) => (box.out = { err: err as grpc.StatusObject | null, value }));
    return box;
  };
  apply({ type: 'createQueue', queue: 'q' });
  return { clock, executor, service, apply, enqueue, unary };
}

function codeOf(out: Outcome | null): string | undefined {
  const raw = out?.err?.metadata?.get(ERROR_METADATA_KEY)[0];
  return raw === undefined ? undefined : (JSON.parse(String(raw)) as { code: string; limit?: string }).code;
}

describe('client service - waitFor', () => {
  it('times out on the injected clock, not on real time', async () => {
    const { clock, enqueue, unary } = setup();
    const call = unary('WaitFor', { id: enqueue(), timeoutMs: 500 });
    await clock.advance(499);
    expect(call.out).toBeNull();
    await clock.advance(2);
    expect(codeOf(call.out)).toBe('DEADLINE_EXCEEDED');
  });

  it('shares one event subscription among all waiters and answers each when its task ends', async () => {
    const { clock, executor, service, apply, enqueue, unary } = setup();
    const ids = Array.from({ length: 20 }, () => enqueue());
    const calls = ids.map((id) => unary('WaitFor', { id, timeoutMs: 10_000 }));
    await settle();
    expect(executor.subscriberCount).toBe(1);
    expect(service.metrics().waiters).toBe(20);
    apply({ type: 'cancel', id: ids[3] ?? '' });
    await settle();
    expect((calls[3]?.out?.value as { task: { state: string } }).task.state).toBe('cancelled');
    expect(calls.filter((c) => c.out !== null)).toHaveLength(1);
    await clock.advance(10_001);
    expect(calls.every((c, i) => i === 3 || codeOf(c.out) === 'DEADLINE_EXCEEDED')).toBe(true);
    expect(executor.subscriberCount).toBe(0);
    expect(service.metrics().waiters).toBe(0);
  });

  it('fails every waiter with UNAVAILABLE at a step-down, through one hook', async () => {
    const { executor, enqueue, unary } = setup();
    const calls = [unary('WaitFor', { id: enqueue() }), unary('WaitFor', { id: enqueue() })];
    await settle();
    executor.stepDown();
    await settle();
    expect(calls.map((c) => codeOf(c.out))).toEqual(['UNAVAILABLE', 'UNAVAILABLE']);
    expect(executor.subscriberCount).toBe(0);
  });

  it('refuses a waiter past waitersMax with RESOURCE_EXHAUSTED naming the limit', async () => {
    const { enqueue, unary } = setup({ waitersMax: 2 });
    unary('WaitFor', { id: enqueue() });
    unary('WaitFor', { id: enqueue() });
    const third = unary('WaitFor', { id: enqueue() });
    await settle();
    expect(codeOf(third.out)).toBe('RESOURCE_EXHAUSTED');
    expect(String(third.out?.err?.details)).toContain('waitersMax');
  });
});

describe('client service - events', () => {
  it('refuses a stream past eventStreamsMax with RESOURCE_EXHAUSTED naming the limit', () => {
    const { service } = setup({ eventStreamsMax: 1 });
    const open = () => {
      const errors: grpc.StatusObject[] = [];
      const call = {
        request: { ok: true, value: {} },
        writableLength: 0,
        write: () => true,
        end: () => undefined,
        sendMetadata: () => undefined,
        on: () => undefined,
        emit: (ev: string, e: grpc.StatusObject) => (ev === 'error' ? errors.push(e) : undefined),
      };
      (service.implementation['Events'] as (c: unknown) => void)(call);
      return errors;
    };
    expect(open()).toEqual([]);
    const refused = open();
    expect(refused).toHaveLength(1);
    expect(String(refused[0]?.details)).toContain('eventStreamsMax');
    expect(service.metrics().eventStreams).toBe(1);
  });
});
