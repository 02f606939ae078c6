// Dead-lettered tasks in the node's log at info (issue #15, docs/decisions.md): queue, task id,
// reason and the log index of the entry that killed it. Rate-limited so a poison-pill storm cannot
// flood the log: at most `perSecond` lines a second; the rest are counted in one line when the
// next second's first one is written (the metrics count every one: raftq_dead_lettered_total).
import type { TaskEvent } from '../protocol/index.js';

interface Subscribable {
  subscribe(filter: { queue?: string }, onEvent: (e: TaskEvent) => void): () => void;
}

interface InfoLog {
  info(obj: object, msg: string): void;
}

export function logDeadLetters(
  driver: Subscribable,
  log: InfoLog,
  opts: { perSecond?: number; now?: () => number } = {},
): () => void {
  const perSecond = opts.perSecond ?? 10;
  const now = opts.now ?? Date.now;
  let second = -1;
  let written = 0;
  let skipped = 0;
  return driver.subscribe({}, (e) => {
    if (e.type !== 'dead') return;
    const s = Math.floor(now() / 1000);
    if (s !== second) {
      second = s;
      written = 0;
    }
    if (written >= perSecond) {
      skipped++;
      return;
    }
    written++;
    const more = skipped > 0 ? { notLogged: skipped } : {};
    skipped = 0;
    log.info({ queue: e.queue, task: e.id, reason: e.reason, index: e.index, ...more }, 'task dead-lettered');
  });
}
