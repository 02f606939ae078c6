// Dead letters reach the log at info, rate-limited, and the ones not logged are counted.
import { describe, expect, it } from 'vitest';
import type { TaskEvent } from '../../../src/protocol/index.js';
import { logDeadLetters } from '../../../src/node/task-log.js';
import { asLogIndex, asTaskId } from '../../../src/protocol/ids.js';

describe('logDeadLetters', () => {
  it('logs each dead task with queue, id, reason and index, at most perSecond a second', () => {
    let cb: (e: TaskEvent) => void = () => {};
    const lines: [Record<string, unknown>, string][] = [];
    let t = 10_000;
    logDeadLetters(
      { subscribe: (_f, onEvent) => ((cb = onEvent), () => undefined) },
      { info: (o, msg) => lines.push([o as Record<string, unknown>, msg]) },
      { perSecond: 3, now: () => t },
    );
    const dead = (id: string): TaskEvent => ({
      type: 'dead',
      id: asTaskId(id),
      queue: 'q',
      index: asLogIndex(7),
      state: 'dead',
      reason: 'max_attempts',
    });
    cb({ type: 'completed', id: asTaskId('0'), queue: 'q', index: asLogIndex(6), state: 'completed' });
    for (let i = 1; i <= 5; i++) cb(dead(String(i)));
    expect(lines.map(([o]) => o['task'])).toEqual(['1', '2', '3']);
    expect(lines[0]).toEqual([{ queue: 'q', task: '1', reason: 'max_attempts', index: 7 }, 'task dead-lettered']);
    t += 1_000;
    cb(dead('6'));
    expect(lines[3]?.[0]).toMatchObject({ task: '6', notLogged: 2 });
  });
});
