// client.sharedLimits: named limits several queues reference (docs/sdk.md "Shared limits"). A queue
// joins one with its `sharedLimit` setting (create or configure); the limit's concurrency and rate
// then count the leases of all its queues together, in total and per limit key.
import type { SharedLimitSpec, SharedLimitView } from '../protocol/shared-limits.js';
import type { CallOptions, Client, ReadConsistency } from './client.js';
import { raftqError } from './errors.js';
import { RATE_KEYS } from './limit-options.js';

type ReadOptions = CallOptions & { consistency?: ReadConsistency };

const SPEC_KEYS = ['concurrency', 'rate', 'keyLimits'];
const KEY_LIMIT_KEYS = ['concurrency', 'rate'];

/** A typo (`keyLimits: { concurency: 1 }`) is refused naming the field, never silently ignored. */
function checkNames(o: unknown, known: readonly string[], path: string): void {
  if (typeof o !== 'object' || o === null) return;
  for (const k of Object.keys(o))
    if (!known.includes(k)) {
      const field = path === '' ? k : `${path}.${k}`;
      throw raftqError('INVALID_ARGUMENT', `${field}: unknown shared limit option "${k}"`, { field });
    }
}

function checkSpec(spec: SharedLimitSpec): void {
  checkNames(spec, SPEC_KEYS, '');
  checkNames(spec.rate, RATE_KEYS, 'rate');
  checkNames(spec.keyLimits, KEY_LIMIT_KEYS, 'keyLimits');
  checkNames(spec.keyLimits?.rate, RATE_KEYS, 'keyLimits.rate');
}

export class SharedLimits {
  constructor(private readonly client: Client) {}

  /** Creates the limit, or replaces its whole spec (created false); its queues' keys are re-placed at once. */
  async set(name: string, spec: SharedLimitSpec, call: CallOptions = {}): Promise<{ created: boolean }> {
    checkSpec(spec);
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
