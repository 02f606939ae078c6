// Queues (docs/design.md §3): created by the first enqueue or createQueue with the default settings;
// configure patches settings. Pause parks the queue's delayed tasks outside the timer heaps.

import type { Answer, CommandOf, KeyLimits, QueueSettings } from '../protocol/index.js';
import { DEFAULT_QUEUE_SETTINGS } from '../protocol/index.js';
import type { SettingsPatch } from '../protocol/validate.js';
import { hashQueue, mutQueue } from './digest.js';
import { startRepark, startResettle } from './jobs.js';
import { addLimiter } from './limits.js';
import { Queue } from './records.js';
import { checkSharedRef, rebind } from './shared-limits-commands.js';
import type { MachineState } from './state.js';
import { err, ok } from './state.js';

function settingsFrom(base: QueueSettings, patch: SettingsPatch): QueueSettings {
  const s = { ...base, ...patch, backoff: { ...base.backoff, ...(patch.backoff ?? {}) } } as QueueSettings;
  if (patch.keys !== undefined) {
    // Merged key by key; null drops an override; no overrides left: no `keys` at all.
    const keys: Record<string, KeyLimits> = { ...(base.keys ?? {}) };
    for (const [k, v] of Object.entries(patch.keys)) {
      if (v === null) delete keys[k];
      else keys[k] = v;
    }
    if (Object.keys(keys).length > 0) s.keys = keys;
    else delete s.keys;
  }
  // null clears a rate (absent and null mean the same: keep settings hashes minimal).
  if (s.rate === null) delete s.rate;
  if (s.sharedLimit === null) delete s.sharedLimit;
  return s;
}

export function tooManyQueues(): Answer<never> {
  return err('RESOURCE_EXHAUSTED', 'too many queues', { limit: 'queuesMax', retryAfterMs: 1000 });
}

/** A new queue with default settings patched; the caller checked queuesMax. */
export function newQueue(st: MachineState, name: string, patch: SettingsPatch): Queue {
  const q = new Queue(name, settingsFrom(DEFAULT_QUEUE_SETTINGS as QueueSettings, patch));
  st.queues.set(name, q);
  st.sum.add(hashQueue(st, q));
  addLimiter(st, q.lim);
  addLimiter(st, q.k0);
  return q;
}

export function createQueue(st: MachineState, cmd: CommandOf<'createQueue'>): Answer {
  if (st.queues.has(cmd.queue)) return err('ALREADY_EXISTS', `queue ${cmd.queue} exists`);
  if (st.queues.size >= st.limits.queuesMax) return tooManyQueues();
  const bad = checkSharedRef(st, cmd.settings ?? {});
  if (bad !== null) return bad;
  const q = newQueue(st, cmd.queue, cmd.settings ?? {});
  rebind(st, q, null);
  return ok({ queue: q.name, settings: q.settings });
}

export function configureQueue(st: MachineState, name: string, patch: SettingsPatch): Answer {
  const q = st.queues.get(name);
  if (q === undefined) return err('NOT_FOUND', `no queue ${name}`);
  if (q.deleting) return err('FAILED_PRECONDITION', `queue ${name} is being deleted`, { reason: 'queue_deleting' });
  const bad = checkSharedRef(st, patch);
  if (bad !== null) return bad;
  const wasPaused = q.settings.paused;
  const wasShared = q.settings.sharedLimit;
  mutQueue(st, q, () => {
    q.settings = settingsFrom(q.settings, patch);
    q.hashSettings();
  });
  rebind(st, q, wasShared);
  if (wasPaused !== q.settings.paused) startRepark(st, q);
  startResettle(st, q);
  return ok({ queue: q.name, settings: q.settings });
}
