// Topics in the SDK (docs/workflows.md): bind queues to a topic with header conditions, unbind, and
// publish one task to every matching queue in one command.
import type { HeaderFilter } from '../protocol/commands.js';
import type { PublishedTask } from '../protocol/wire-flows.js';
import type { CallOptions, Client } from './client.js';
import { raftqError } from './errors.js';
import type { EnqueueOptions } from './queue.js';

export type { PublishedTask } from '../protocol/wire-flows.js';

/**
 * A binding's conditions, all of which must hold: header → value (equality) or { prefix }. Absent
 * or empty: every publish matches.
 */
export type TopicFilter = Record<string, string | { prefix: string }>;

export type PublishOptions = Omit<EnqueueOptions, 'dependsOn'>;

function filterOf(filter: TopicFilter): HeaderFilter[] {
  if (typeof filter !== 'object' || filter === null) {
    throw raftqError('INVALID_ARGUMENT', 'filter: must be { header: value | { prefix } }', { field: 'filter' });
  }
  return Object.keys(filter)
    .sort()
    .map((header) => {
      const v = filter[header];
      if (typeof v === 'string') return { header, equals: v };
      if (typeof v === 'object' && v !== null && typeof v.prefix === 'string') return { header, prefix: v.prefix };
      const field = `filter.${header}`;
      throw raftqError('INVALID_ARGUMENT', `${field}: must be a string or { prefix: string }`, { field });
    });
}

export class Topic<T = unknown> {
  constructor(
    readonly client: Client,
    readonly name: string,
  ) {}

  /** Binds `queue` (a rebind replaces its filter); a publish then reaches it when the filter matches. */
  async bind(queue: string, options: { filter?: TopicFilter } = {}, call: CallOptions = {}): Promise<void> {
    const filter = options.filter === undefined ? [] : filterOf(options.filter);
    const cmd = { type: 'bindTopic' as const, topic: this.name, queue, ...(filter.length > 0 ? { filter } : {}) };
    await this.client.command(cmd, { ...call, idempotent: true });
  }

  async unbind(queue: string, call: CallOptions = {}): Promise<void> {
    await this.client.command({ type: 'unbindTopic', topic: this.name, queue }, { ...call, idempotent: true });
  }

  /**
   * One task in every bound queue whose filter matches `options.headers`, all in one command (all or
   * nothing); the tasks, by queue name. An idempotencyKey applies in each target queue.
   */
  async publish(payload: T, options: PublishOptions = {}, call: CallOptions = {}): Promise<PublishedTask[]> {
    const task = this.client.queue(this.name).taskSpec({ payload, ...options }, 0);
    const idempotent = task.idempotencyKey !== undefined;
    const { answer } = await this.client.command({ type: 'publish', topic: this.name, task }, { ...call, idempotent });
    return answer.items;
  }
}
