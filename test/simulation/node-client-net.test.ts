import { describe, expect, it } from 'vitest';
import type { Message, Method } from '../../src/client/transport.js';
import type { ErrorDetail } from '../../src/protocol/errors.js';
import { Rng } from '../../src/raft/rng.js';
import { ClientNet, SimTransport } from './node/client-net.js';
import { ClientClock, MonoClock } from './node/clocks.js';
import { NodeSimulation } from './node/sim.js';

// The simulated client network reports every command to its hooks (the simulation's belief
// bookkeeping and its client history), whether it travelled alone or inside a coalesced Submit.
describe('node simulation client network - hooks see commands, not calls', () => {
  it('a Submit is reported item by item: each request, each reply, an item error as a failure', async () => {
    const sim = new NodeSimulation({ seed: 3, nodes: 3 });
    const sched = sim.sched;
    await sched.runUntil(5_000, () => sim.nodes.some((n) => n.raft?.currentRole === 'leader'));
    const leader = sim.nodes.find((n) => n.raft?.currentRole === 'leader');
    expect(leader).toBeDefined();
    const seen: string[] = [];
    const net = new ClientNet(
      sched,
      new Rng(1),
      sim.nodes.map((n) => n.endpoint),
      {
        sent: (_c, m: Method) => seen.push(`sent ${m}`),
        replied: (_c, m: Method, _r, reply: Message) =>
          seen.push(`replied ${m} ${Object.keys(reply).sort().join(',')}`),
        failed: (_c, m: Method, _r, d: ErrorDetail) => seen.push(`failed ${m} ${d.code}`),
      },
    );
    const t = new SimTransport(net, 'c', new ClientClock(sched, new MonoClock(sched, 1, 0), new Rng(2)));
    const run = async (p: Promise<Message>): Promise<Message> => {
      let done = false;
      const out = p.then((v) => ((done = true), v));
      while (!done) await sched.runUntil(sched.now + 10, () => done);
      return out;
    };
    const header = { session: '', seq: 0, floor: 0, timeoutMs: 5_000 };
    await run(t.call(leader!.address, 'CreateQueue', { header, queue: 'q', settings: {} }, 5_000));
    seen.length = 0;
    const reply = await run(
      t.call(
        leader!.address,
        'Submit',
        {
          items: [
            { enqueue: { header, queue: 'q', tasks: [{ payload: new Uint8Array([1]) }] } },
            { ack: { header, items: [{ id: '424242', token: '7' }] } },
            { enqueue: { header: { ...header, seq: 3 }, queue: 'q', tasks: [{ payload: new Uint8Array([2]) }] } },
          ],
        },
        5_000,
      ),
    );
    expect((reply['results'] as unknown[]).length).toBe(3);
    expect(seen).toEqual([
      'sent Enqueue',
      'sent Ack',
      'sent Enqueue',
      'replied Enqueue index,items',
      'replied Ack index,results',
      'failed Enqueue INVALID_ARGUMENT',
    ]);
  });

  it("an Events stream runs through the node's client service: ready, messages in order, ended by a crash or not at all once cancelled", async () => {
    const sim = new NodeSimulation({ seed: 3, nodes: 3 });
    const sched = sim.sched;
    await sched.runUntil(5_000, () => sim.nodes.some((n) => n.raft?.currentRole === 'leader'));
    const leader = sim.nodes.find((n) => n.raft?.currentRole === 'leader');
    expect(leader).toBeDefined();
    const net = new ClientNet(
      sched,
      new Rng(1),
      sim.nodes.map((n) => n.endpoint),
      { sent: () => undefined, replied: () => undefined },
    );
    const t = new SimTransport(net, 'c', new ClientClock(sched, new MonoClock(sched, 1, 0), new Rng(2)));
    const until = async (cond: () => boolean): Promise<void> => {
      const end = sched.now + 5_000;
      while (!cond() && sched.now < end) await sched.runUntil(sched.now + 10, cond);
    };
    const header = { session: '', seq: 0, floor: 0, timeoutMs: 5_000 };
    let created = false;
    void t
      .call(leader!.address, 'CreateQueue', { header, queue: 'q', settings: {} }, 5_000)
      .then(() => (created = true));
    await until(() => created);
    const seen: string[] = [];
    const ends: (string | null)[] = [];
    t.stream(
      leader!.address,
      'Events',
      { queue: 'q' },
      {
        onReady: () => seen.push('ready'),
        onMessage: (m) => seen.push(`${String(m['type'])} ${String(m['index'])}`),
        onEnd: (e) => ends.push(e === null ? null : e.code),
      },
    );
    const cancelled: string[] = [];
    const cancel = t.stream(
      leader!.address,
      'Events',
      { queue: 'q' },
      {
        onReady: () => cancelled.push('ready'),
        onMessage: () => cancelled.push('message'),
        onEnd: () => cancelled.push('end'),
      },
    );
    await until(() => seen.length > 0 && cancelled.length > 0);
    expect(seen).toEqual(['ready']);
    expect(cancelled).toEqual(['ready']);
    cancel();
    let enqueued = false;
    const tasks = [{ payload: new Uint8Array([1]) }, { payload: new Uint8Array([2]) }];
    void t.call(leader!.address, 'Enqueue', { header, queue: 'q', tasks }, 5_000).then(() => (enqueued = true));
    await until(() => enqueued && seen.length >= 3);
    expect(seen.slice(1).map((x) => x.split(' ')[0])).toEqual(['enqueued', 'enqueued']);
    const indexes = seen.slice(1).map((x) => Number(x.split(' ')[1]));
    expect(indexes[0]).toBeGreaterThan(0);
    expect(indexes[1]).toBeGreaterThanOrEqual(indexes[0] as number);
    // A crash of the node resets the stream: the client sees it end, once, as UNAVAILABLE.
    for (const reset of [...leader!.endpoint.inflight]) reset('connection reset (node crashed)');
    await until(() => ends.length > 0);
    await sched.runUntil(sched.now + 100, () => false);
    expect(ends).toEqual(['UNAVAILABLE']);
    expect(cancelled).toEqual(['ready']);
    expect(net.streamsOpened).toBe(2);
  });
});
