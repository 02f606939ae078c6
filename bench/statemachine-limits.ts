// Limit keys in the state machine benchmark (issue 13): enqueue + lease + ack in batches of 100
// with every key backlogged and limits on (per-key concurrency and rate, a queue rate — set high
// enough never to refuse, so the cost measured is the bookkeeping), at 10 and 10,000 keys. A lease
// picks among all backlogged keys through the fair scheduler's heap: O(log keys), so the rate
// should barely move from 10 to 10,000 keys. Lease answers depend on the schedule, so the log is
// built by a first machine (untimed) and replayed by a fresh one (timed).

import { asLogIndex } from '../src/protocol/ids.js';
import { encodeEnvelope } from '../src/protocol/index.js';
import type { Command, LeasedTask } from '../src/protocol/index.js';
import { QueueStateMachine } from '../src/statemachine/index.js';

const WALL0 = 1_700_000_000_000;
const PAYLOAD = new Uint8Array(256).fill(7);

function entry(mono: number, cmd: Command): Uint8Array {
  return encodeEnvelope({ v: 1, mono, wall: WALL0 + mono, cmds: [{ session: null, seq: 0, cmd }] });
}

export interface LimitRate {
  opsPerS: number;
  opsPerCpuS: number;
}

const SETTINGS = {
  retentionMs: 0,
  rate: { limit: 100_000_000, intervalMs: 1000 },
  keyLimits: { concurrency: 100_000, rate: { limit: 1_000_000, intervalMs: 1000 } },
};

/** The untimed prefix (queue, backlog of 2 tasks per key) and the timed rounds, built by a dry run. */
function buildLog(batch: number, tasks: number, keys: number): { setup: Uint8Array[]; timed: Uint8Array[] } {
  const dry = new QueueStateMachine({ events: false });
  const setup: Uint8Array[] = [];
  const timed: Uint8Array[] = [];
  let index = 0;
  const push = (list: Uint8Array[], e: Uint8Array): unknown => {
    list.push(e);
    return dry.apply(asLogIndex(++index), e)[0]?.answer;
  };
  push(setup, entry(1000, { type: 'createQueue', queue: 'bench', settings: SETTINGS } as Command));
  let n = 0;
  const spec = () => ({ payload: PAYLOAD, key: `t${n++ % keys}` });
  for (let left = 2 * keys; left > 0; left -= 1000) {
    const tasks = Array.from({ length: Math.min(1000, left) }, spec);
    push(setup, entry(1000, { type: 'enqueue', queue: 'bench', tasks }));
  }
  for (let r = 0; r < Math.floor(tasks / batch); r++) {
    const mono = 1000 + r * 10;
    push(timed, entry(mono, { type: 'enqueue', queue: 'bench', tasks: Array.from({ length: batch }, spec) }));
    const a = push(timed, entry(mono, { type: 'lease', queue: 'bench', workerId: 'w', max: batch })) as {
      value: { tasks: LeasedTask[] };
    };
    const items = a.value.tasks.map((t) => ({ id: t.id, token: t.token }));
    if (items.length !== batch) throw new Error('benchmark: a lease was refused by a limit');
    push(timed, entry(mono, { type: 'ack', items }));
  }
  return { setup, timed };
}

export function limitedOpsPerSecond(batch: number, tasks: number, keys: number): LimitRate {
  const { setup, timed } = buildLog(batch, tasks, keys);
  const sm = new QueueStateMachine({ events: true });
  let index = 0;
  for (const e of setup) sm.apply(asLogIndex(++index), e);
  const start = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  for (const e of timed) {
    sm.apply(asLogIndex(++index), e);
    sm.drainEvents();
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const ops = (timed.length / 3) * batch * 3;
  return { opsPerS: Math.round(ops / seconds), opsPerCpuS: Math.round(ops / ((cpu.user + cpu.system) / 1e6)) };
}
