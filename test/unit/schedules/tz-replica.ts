// A replica in a child process (tz-agreement.test.ts runs it under different TZ): applies the log
// given on stdin (JSON, base64 entries) and prints the digest after every entry, the schedules it
// read, and the slot instants this process would compute as leader for the given sources.
import { asLogIndex } from '../../../src/protocol/ids.js';
import { computeSlots, type SlotSource } from '../../../src/protocol/schedule-cron.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';

const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { entries: string[]; sources: SlotSource[] };
const sm = new QueueStateMachine();
const digests = input.entries.map((e, i) => {
  sm.apply(asLogIndex(i + 1), new Uint8Array(Buffer.from(e, 'base64')));
  return sm.digest();
});
const read = sm.read({ type: 'schedules' });
const slots = input.sources.map((s) => computeSlots(s, 50));
process.stdout.write(
  JSON.stringify({
    tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
    offsetMin: new Date(Date.UTC(2026, 6, 1)).getTimezoneOffset(),
    digests,
    schedules: JSON.stringify(read.answer, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v)),
    slots,
  }),
);
