// Test harness: drives a QueueStateMachine with envelopes at chosen stamps.
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { expect } from 'vitest';
import type { Answer, Command, CommandAnswer, SessionCommand } from '../../../src/protocol/index.js';
import { encodeEnvelope } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import type { MachineOptions } from '../../../src/statemachine/index.js';

export const WALL0 = 1_700_000_000_000;

export class Driver {
  readonly sm: QueueStateMachine;
  index = 0;
  mono = 1000;
  /** The Raft term each entry is applied with (0: none given). */
  term = 0;

  constructor(opts?: MachineOptions) {
    this.sm = new QueueStateMachine(opts);
  }

  /** One entry with these commands (sessionless unless given as SessionCommand). */
  entry(cmds: (Command | SessionCommand)[], dtMs = 0): CommandAnswer[] {
    this.mono += dtMs;
    const sc = cmds.map((c) => ('cmd' in c ? c : { session: null, seq: 0, cmd: c }));
    return this.sm.apply(
      asLogIndex(++this.index),
      encodeEnvelope({ v: 1, mono: this.mono, wall: WALL0 + this.mono, cmds: sc }),
      asTerm(this.term),
    );
  }

  /** One sessionless command; its answer. */
  run(cmd: Command, dtMs = 0): Answer {
    return (this.entry([cmd], dtMs)[0] as CommandAnswer).answer;
  }

  value<T = Record<string, unknown>>(cmd: Command, dtMs = 0): T {
    const a = this.run(cmd, dtMs);
    if (!a.ok) throw new Error(`expected ok, got ${JSON.stringify(a.error)}`);
    return a.value as T;
  }

  read<T = Record<string, unknown>>(q: Parameters<QueueStateMachine['read']>[0]): T {
    const r = this.sm.read(q);
    if (!r.answer.ok) throw new Error(`read failed: ${JSON.stringify(r.answer.error)}`);
    return r.answer.value as T;
  }
}

export function bytes(...xs: number[]): Uint8Array {
  return new Uint8Array(xs);
}

export function code(a: Answer): string {
  return a.ok ? 'OK' : a.error.code;
}

/**
 * Applies each entry (one sessionless command at a chosen stamp) to a machine and, once
 * `restoreHere()` was called, also to a replica restored from its snapshot there: the property
 * tests check that both give the same answers and digests after every entry.
 */
export class ReplicaPair {
  index = 0;
  mono = 1000;
  replica: QueueStateMachine | null = null;

  constructor(readonly sm: QueueStateMachine) {}

  run(cmd: Command, dt: number): Answer {
    this.mono += dt;
    const data = encodeEnvelope({
      v: 1,
      mono: this.mono,
      wall: WALL0 + this.mono,
      cmds: [{ session: null, seq: 0, cmd }],
    });
    const out = this.sm.apply(asLogIndex(++this.index), data);
    if (this.replica !== null) {
      expect(this.replica.apply(asLogIndex(this.index), data)).toEqual(out);
      expect(this.replica.digest()).toBe(this.sm.digest());
    }
    return (out[0] as CommandAnswer).answer;
  }

  restoreHere(): void {
    const r = new QueueStateMachine();
    r.restore([...this.sm.snapshot()]);
    expect(r.digest()).toBe(this.sm.digest());
    this.replica = r;
  }
}
