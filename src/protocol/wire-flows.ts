// The wire of workflows and fan-out (docs/workflows.md, client.proto "workflows and fan-out"): the
// Flow, CancelFlow, BindTopic, UnbindTopic and Publish commands (unary only: Submit does not carry
// them), the dependencies of an enqueued task, and the cancel reply's `cancelRequested`. wire.ts
// spreads these into COMMAND_WIRE and hands in its shared codecs (imports point one way).
import type { Command, DependencySpec, TaskState } from './commands.js';
import { asArray, asNumber, asObject, asOptionalString, asString, type Message } from './wire-values.js';

export interface PublishedTask {
  queue: string;
  id: string;
  deduplicated: boolean;
}

/** What the reply to each of these commands carries (beside the entry's index). */
export interface FlowAnswers {
  flow: { ids: string[] };
  cancelFlow: { cancelled: number; cancelRequested: number };
  bindTopic: object;
  unbindTopic: object;
  publish: { items: PublishedTask[] };
}

export interface Meta {
  index: number;
}

type Decoded = { ok: true; value: Message };

/** A dependency edge from the wire: proto3 gives "" for an unset policy. */
export function dependencyFromWire(v: unknown): DependencySpec {
  const o = asObject(v);
  const out: DependencySpec = { id: asString(o['id']) };
  const policy = asOptionalString(o['policy']);
  if (policy !== undefined && policy !== '') out.policy = policy as DependencySpec['policy'];
  return out;
}

/** The cancel reply: the state, and whether a running task was only asked to stop. */
export const cancelReply = {
  fromMachine: (_cmd: unknown, value: unknown, meta: Meta): { state: TaskState; cancelRequested?: boolean } & Meta => {
    const v = asObject(value);
    const out: { state: TaskState; cancelRequested?: boolean } & Meta = {
      state: asString(v['state']) as TaskState,
      index: meta.index,
    };
    if (v['cancelRequested'] === true) out.cancelRequested = true;
    return out;
  },
  encode: (a: { state: TaskState; cancelRequested?: boolean } & Meta): Message => ({ ...a }),
  decode: (m: Message): { state: TaskState; cancelRequested?: boolean } & Meta => {
    const out: { state: TaskState; cancelRequested?: boolean } & Meta = {
      state: asString(m['state']) as TaskState,
      index: asNumber(m['index']),
    };
    if (m['cancelRequested'] === true) out.cancelRequested = true;
    return out;
  },
};

const done = {
  fromMachine: (_cmd: unknown, _value: unknown, meta: Meta): Meta => ({ index: meta.index }),
  encode: (a: Meta): Message => ({ index: a.index }),
  decode: (m: Message): Meta => ({ index: asNumber(m['index']) }),
};

function publishedFromWire(v: unknown): PublishedTask {
  const o = asObject(v);
  return { queue: asString(o['queue']), id: asString(o['id']), deduplicated: o['deduplicated'] === true };
}

const flowReply = {
  fromMachine: (_cmd: unknown, value: unknown, meta: Meta) => ({
    ids: asArray(asObject(value)['ids']).map(asString),
    index: meta.index,
  }),
  encode: (a: { ids: string[] } & Meta): Message => ({ ids: a.ids, index: a.index }),
  decode: (m: Message) => ({ ids: asArray(m['ids']).map(asString), index: asNumber(m['index']) }),
};

const cancelFlowReply = {
  fromMachine: (_cmd: unknown, value: unknown, meta: Meta) => ({
    cancelled: asNumber(asObject(value)['cancelled']),
    cancelRequested: asNumber(asObject(value)['cancelRequested']),
    index: meta.index,
  }),
  encode: (a: { cancelled: number; cancelRequested: number } & Meta): Message => ({ ...a }),
  decode: (m: Message) => ({
    cancelled: asNumber(m['cancelled']),
    cancelRequested: asNumber(m['cancelRequested']),
    index: asNumber(m['index']),
  }),
};

const publishReply = {
  fromMachine: (_cmd: unknown, value: unknown, meta: Meta) => ({
    items: asArray(asObject(value)['items']).map(publishedFromWire),
    index: meta.index,
  }),
  encode: (a: { items: PublishedTask[] } & Meta): Message => ({ items: a.items, index: a.index }),
  decode: (m: Message) => ({ items: asArray(m['items']).map(publishedFromWire), index: asNumber(m['index']) }),
};

function filterFromWire(f: unknown): Message {
  const o = asObject(f);
  const x: Message = { header: o['header'] };
  if (typeof o['equals'] === 'string') x['equals'] = o['equals'];
  if (typeof o['prefix'] === 'string') x['prefix'] = o['prefix'];
  return x;
}

/** The shared codecs of wire.ts. */
export interface WireKit {
  fieldsOf(cmd: Command): Message;
  taskSpecFromWire(v: unknown): Message;
}

export function flowWire(k: WireKit) {
  const ok = (value: Message): Decoded => ({ ok: true, value });
  const nodeFromWire = (v: unknown): Message => {
    const o = asObject(v);
    const out: Message = { queue: o['queue'], task: k.taskSpecFromWire(o['task']) };
    const policy = asOptionalString(o['policy']);
    if (policy !== undefined && policy !== '') out['policy'] = policy;
    const children = asArray(o['children']);
    if (children.length > 0) out['children'] = children.map(nodeFromWire);
    return out;
  };
  const topicRequest = (type: 'bindTopic' | 'unbindTopic') => ({
    encode: k.fieldsOf,
    decode: (r: Message): Decoded => {
      const out: Message = { type, topic: r['topic'], queue: r['queue'] };
      if (type === 'bindTopic' && asArray(r['filter']).length > 0)
        out['filter'] = asArray(r['filter']).map(filterFromWire);
      return ok(out);
    },
  });
  return {
    flow: {
      method: 'Flow',
      field: null,
      request: {
        encode: k.fieldsOf,
        decode: (r: Message): Decoded => ok({ type: 'flow', root: nodeFromWire(r['root']) }),
      },
      reply: flowReply,
    },
    cancelFlow: {
      method: 'CancelFlow',
      field: null,
      request: { encode: k.fieldsOf, decode: (r: Message): Decoded => ok({ type: 'cancelFlow', id: r['id'] }) },
      reply: cancelFlowReply,
    },
    bindTopic: { method: 'BindTopic', field: null, request: topicRequest('bindTopic'), reply: done },
    unbindTopic: { method: 'UnbindTopic', field: null, request: topicRequest('unbindTopic'), reply: done },
    publish: {
      method: 'Publish',
      field: null,
      request: {
        encode: k.fieldsOf,
        decode: (r: Message): Decoded =>
          ok({ type: 'publish', topic: r['topic'], task: k.taskSpecFromWire(r['task']) }),
      },
      reply: publishReply,
    },
  } as const;
}
