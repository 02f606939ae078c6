// A tiny DSL for hand-made histories: each call records an invoke and its completion.

import type { FinalObservations, FinalTask, Op, OpType, ProcessId } from '../../../src/checker/index.js';

type Outcome = Exclude<OpType, 'invoke'>;

export interface CallTiming {
  /** Invoke time (default: one after the previous op). */
  at?: number;
  /** Completion time minus invoke time (default 1). */
  dur?: number;
}

export class HistoryBuilder {
  readonly ops: Op[] = [];
  #t = 0;

  #call(
    process: ProcessId,
    f: Op['f'],
    invokeValue: unknown,
    outcome: Outcome | 'none',
    answer: unknown,
    timing: CallTiming & { error?: string; node?: string },
  ): this {
    const at = timing.at ?? this.#t + 1;
    const done = at + (timing.dur ?? 1);
    const node = timing.node === undefined ? {} : { node: timing.node };
    this.ops.push({ process, type: 'invoke', f, value: invokeValue, time: at, ...node } as Op);
    if (outcome !== 'none') {
      const error = timing.error === undefined ? {} : { error: timing.error };
      this.ops.push({ process, type: outcome, f, value: answer, time: done, ...node, ...error } as Op);
    }
    this.#t = Math.max(this.#t, outcome === 'none' ? at : done);
    return this;
  }

  enqueue(
    process: ProcessId,
    v: { producer?: string; seq: number; value: string; key?: string; group?: string; taskId?: string },
    outcome: Outcome | 'none' = 'ok',
    timing: CallTiming & { error?: string } = {},
  ): this {
    const invoke = {
      producer: v.producer ?? String(process),
      seq: v.seq,
      value: v.value,
      ...(v.key === undefined ? {} : { idempotencyKey: v.key }),
      ...(v.group === undefined ? {} : { group: v.group }),
    };
    const answer = outcome === 'ok' ? { ...invoke, taskId: v.taskId } : invoke;
    return this.#call(process, 'enqueue', invoke, outcome, answer, timing);
  }

  /** A granted lease; belief defaults to [completion, completion + 100]. */
  lease(
    process: ProcessId,
    g: {
      taskId: string;
      token: number | string;
      value: string;
      group?: string;
      start?: number;
      end?: number;
      derivedFrom?: string | undefined;
    },
    timing: CallTiming = {},
  ): this {
    const at = timing.at ?? this.#t + 1;
    const done = at + (timing.dur ?? 1);
    const grant = {
      taskId: g.taskId,
      token: String(g.token),
      value: g.value,
      beliefStart: g.start ?? done,
      beliefEnd: g.end ?? done + 100,
      ...(g.group === undefined ? {} : { group: g.group }),
      ...(g.derivedFrom === undefined ? {} : { derivedFrom: g.derivedFrom }),
    };
    return this.#call(process, 'lease', null, 'ok', grant, { ...timing, at });
  }

  leaseUnknown(process: ProcessId, timing: CallTiming = {}): this {
    return this.#call(process, 'lease', null, 'info', null, { ...timing, error: 'DEADLINE_EXCEEDED' });
  }

  attempt(
    process: ProcessId,
    f: 'ack' | 'nack' | 'release' | 'extend',
    a: { taskId: string; token: number | string; dead?: boolean; beliefEnd?: number },
    outcome: Outcome | 'none' = 'ok',
    timing: CallTiming & { error?: string } = {},
  ): this {
    const invoke = { taskId: a.taskId, token: String(a.token), ...(a.dead === true ? { dead: true } : {}) };
    const answer = a.beliefEnd === undefined ? invoke : { ...invoke, beliefEnd: a.beliefEnd };
    const error = outcome === 'fail' && timing.error === undefined ? { error: 'LEASE_LOST' } : {};
    return this.#call(process, f, invoke, outcome, answer, { ...timing, ...error });
  }

  ack(process: ProcessId, taskId: string, token: number | string, outcome: Outcome = 'ok', timing: CallTiming = {}) {
    return this.attempt(process, 'ack', { taskId, token }, outcome, timing);
  }

  read(node: string, tasks: FinalTask[], timing: CallTiming = {}): this {
    return this.#call(`reader-${node}`, 'read', null, 'ok', { tasks }, { ...timing, node });
  }

  fault(kind: string, action: 'start' | 'stop', at?: number): this {
    const time = at ?? this.#t + 1;
    this.#t = Math.max(this.#t, time);
    this.ops.push({ process: 'nemesis', type: 'info', f: 'fault', value: { kind, action }, time });
    return this;
  }

  leader(node: string, term: number): this {
    this.#t += 1;
    this.ops.push({ process: 'observer', type: 'info', f: 'leader', value: { node, term }, time: this.#t });
    return this;
  }

  get now(): number {
    return this.#t;
  }

  /** Ops sorted by time (stable), as a recorder would have written them. */
  history(): Op[] {
    return [...this.ops].sort((a, b) => a.time - b.time);
  }
}

export function finalOf(nodes: string[], digests: [number, string][], extra: Partial<FinalObservations> = {}) {
  const final: FinalObservations = {
    digests: Object.fromEntries(nodes.map((n) => [n, digests.map(([index, digest]) => ({ index, digest }))])),
    ...extra,
  };
  return final;
}
