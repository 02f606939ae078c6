// The Redrive reply (client.proto RedriveReply): the new tasks' ids, and `continuing` — a redrive
// without ids that goes on as a job in later entries (src/statemachine/jobs.ts). The state machine
// sets `continuing` only when true, so a redrive that ends in its entry answers as it always did.
import { asArray, asNumber, asObject, asString, type Message } from './wire-values.js';

export interface RedriveAnswer {
  ids: string[];
  continuing: boolean;
}

type Meta = { index: number };

function idsOf(value: unknown): string[] {
  const items = Array.isArray(value) ? value : asArray(asObject(value)['items']);
  return items.map((x) => (typeof x === 'string' ? x : asString(asObject(x)['id'])));
}

export const redriveReply = {
  fromMachine: (_cmd: unknown, value: unknown, meta: Meta): RedriveAnswer & Meta => ({
    ids: idsOf(value),
    continuing: asObject(value)['continuing'] === true,
    index: meta.index,
  }),
  encode: (a: RedriveAnswer & Meta): Message => ({ ids: a.ids, continuing: a.continuing, index: a.index }),
  decode: (m: Message): RedriveAnswer & Meta => ({
    ids: asArray(m['ids']).map(asString),
    continuing: m['continuing'] === true,
    index: asNumber(m['index']),
  }),
};
