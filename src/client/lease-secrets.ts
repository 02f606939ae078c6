// The holder secrets of the leases this client was granted (docs/security.md): remembered by
// (task id, fencing token) from lease answers and added to this client's ack / nack / extend /
// release of those leases, so `queue.ack(id, token)` and the worker need no change. Another client
// (or process) knowing the id and token is refused by the state machine. Bounded: beyond the cap the
// oldest is forgotten (its lease long gone or about to be).
import type { Command, LeasedTask } from '../protocol/commands.js';

const SECRETS_MAX = 100_000;
const key = (id: string, token: string): string => `${id}/${token}`;

export class LeaseSecrets {
  private readonly byLease = new Map<string, string>();

  /** Remembers the secrets of a lease answer's tasks. */
  remember(tasks: readonly LeasedTask[]): void {
    for (const t of tasks) {
      if (t.secret === undefined) continue;
      if (this.byLease.size >= SECRETS_MAX) this.byLease.delete(this.byLease.keys().next().value as string);
      this.byLease.set(key(t.id, t.token), t.secret);
    }
  }

  /** `cmd` with the secrets of its leases added (those it does not carry already); others unchanged. */
  attach<C extends Command>(cmd: C): C {
    const c = cmd as Command;
    switch (c.type) {
      case 'ack':
        return Object.assign({}, c, { items: c.items.map((i) => this.with(i)) }) as C;
      case 'nack':
      case 'extend':
      case 'release':
        return this.with(c) as C;
      default:
        return cmd;
    }
  }

  /** After `cmd` was answered: remembers a lease's secrets, forgets the leases it ended. */
  observe(cmd: Command, answer: unknown): void {
    if (cmd.type === 'lease') this.remember((answer as { tasks?: LeasedTask[] }).tasks ?? []);
    else this.ended(cmd);
  }

  /** Forgets the leases `cmd` ended (ack / nack / release). */
  ended(cmd: Command): void {
    if (cmd.type === 'ack') for (const i of cmd.items) this.byLease.delete(key(i.id, i.token));
    if (cmd.type === 'nack' || cmd.type === 'release') this.byLease.delete(key(cmd.id, cmd.token));
  }

  get size(): number {
    return this.byLease.size;
  }

  private with<T extends { id: string; token: string; secret?: string }>(x: T): T {
    if (x.secret !== undefined) return x;
    const secret = this.byLease.get(key(x.id, x.token));
    return secret === undefined ? x : Object.assign({}, x, { secret });
  }
}
