// client.sharedLimits: named limits several queues reference (docs/sdk.md "Shared limits"). A queue
// joins one with its `sharedLimit` setting (create or configure); the limit's concurrency and rate
// then count the leases of all its queues together, in total and per limit key.
import type { SharedLimitSpec, SharedLimitView } from '../protocol/shared-limits.js';
import type { CallOptions, Client, ReadConsistency } from './client.js';

type ReadOptions = CallOptions & { consistency?: ReadConsistency };

export class SharedLimits {
  constructor(private readonly client: Client) {}

  /** Creates the limit, or replaces its whole spec (created false); its queues' keys are re-placed at once. */
  async set(name: string, spec: SharedLimitSpec, call: CallOptions = {}): Promise<{ created: boolean }> {
    const { answer } = await this.client.command(
      { type: 'setSharedLimit' as const, name, ...spec },
      { ...call, idempotent: true },
    );
    return { created: answer.created };
  }

  /** Deletes the limit; refused (FAILED_PRECONDITION) while a queue references it. */
  async delete(name: string, call: CallOptions = {}): Promise<void> {
    await this.client.command({ type: 'deleteSharedLimit' as const, name }, { ...call, idempotent: true });
  }

  /** Every shared limit, by name, with the queues that reference it and what it holds now. */
  async list(options: ReadOptions = {}): Promise<SharedLimitView[]> {
    const reply = await this.client.read('ListSharedLimits', { type: 'sharedLimits' }, options);
    return reply.limits;
  }
}
