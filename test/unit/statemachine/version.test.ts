// State machine versions (issue 16, src/statemachine/version.ts): activateVersion moves the replicated
// version only upward; it is in the snapshot (absent: 1) and in the digest (only above 1, so a
// version-1 state keeps the digest the release before versions gave it); version 2's behaviour (a
// published task's story names its topic) depends on the state's version alone, never on the
// replica's cap; a replica capped below a version it is asked to apply or restore stops before the
// entry changes anything.
import { describe, expect, it } from 'vitest';
import type { Command, StoryStep, TaskView } from '../../../src/protocol/index.js';
import { encode } from '../../../src/protocol/index.js';
import { decodeMultiple } from '../../../src/protocol/codec.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { SM_MAX, SmVersionError, behindMessage, membersBehind } from '../../../src/statemachine/version.js';
import { Driver, bytes, code } from './harness.js';

const activate = (version: number): Command => ({ type: 'activateVersion', version });
const publish: Command = { type: 'publish', topic: 'orders', task: { payload: bytes(1) } };
const STOP2 = 'the cluster runs state machine version 2; this raftq supports up to 1: upgrade this member';

function enqueuedStep(d: Driver, id: string): StoryStep | undefined {
  return d.read<TaskView>({ type: 'task', id }).story?.find((s) => s.kind === 'enqueued');
}

function publishedId(d: Driver): string {
  const a = d.value<{ items: { id: string }[] }>(publish);
  return a.items[0]?.id ?? '';
}

function restored(sm: QueueStateMachine, smMax?: number): QueueStateMachine {
  const e = new QueueStateMachine(smMax === undefined ? {} : { smMax });
  e.restore([...sm.snapshot()]);
  return e;
}

describe('statemachine - versions (issue 16)', () => {
  it('starts at 1; activation moves only upward, a lower or equal version is a no-op answer', () => {
    const d = new Driver();
    expect(d.sm.state.activeVersion).toBe(1);
    expect(SM_MAX).toBeGreaterThanOrEqual(2);
    expect(d.value(activate(1))).toEqual({ activeVersion: 1, changed: false });
    const before = d.sm.digest();
    expect(d.value(activate(2))).toEqual({ activeVersion: 2, changed: true });
    expect(d.sm.state.activeVersion).toBe(2);
    expect(d.sm.digest()).not.toBe(before);
    expect(d.value(activate(2))).toEqual({ activeVersion: 2, changed: false });
    expect(d.value(activate(1))).toEqual({ activeVersion: 2, changed: false });
    expect(d.sm.state.activeVersion).toBe(2);
    for (const bad of [0, -1, 1.5, '2', null]) {
      const a = d.run({ type: 'activateVersion', version: bad } as never);
      expect(code(a)).toBe('INVALID_ARGUMENT');
      expect(!a.ok && a.error.field).toBe('version');
    }
  });

  it('the digest includes the version: same log but the activation gives another digest', () => {
    const a = new Driver();
    const b = new Driver();
    a.value({ type: 'createQueue', queue: 'q' });
    b.value({ type: 'createQueue', queue: 'q' });
    expect(a.sm.digest()).toBe(b.sm.digest());
    a.value(activate(2));
    b.value({ type: 'advanceTime' });
    expect(a.sm.digest()).not.toBe(b.sm.digest());
    // Only the version differs: put it back by hand and the digests agree.
    a.sm.state.activeVersion = 1;
    expect(a.sm.digest()).toBe(b.sm.digest());
  });

  it('version 2: a published task records its topic; version 1 keeps the old story', () => {
    const d = new Driver();
    d.value({ type: 'bindTopic', topic: 'orders', queue: 'billing' });
    const v1 = publishedId(d);
    expect(enqueuedStep(d, v1)).toEqual(expect.objectContaining({ kind: 'enqueued' }));
    expect(enqueuedStep(d, v1)?.detail).toBeUndefined();
    d.value(activate(2));
    const v2 = publishedId(d);
    expect(enqueuedStep(d, v2)?.detail).toBe('published to topic orders');
    // The task made before the activation keeps its story.
    expect(enqueuedStep(d, v1)?.detail).toBeUndefined();
  });

  it('round-trips through a snapshot; a snapshot without the field restores as version 1', () => {
    const d = new Driver();
    d.value({ type: 'bindTopic', topic: 'orders', queue: 'billing' });
    const v1 = publishedId(d);
    const one = restored(d.sm);
    expect(one.state.activeVersion).toBe(1);
    expect(one.digest()).toBe(d.sm.digest());
    // A version-1 snapshot's head has no activeVersion (as every snapshot written before versions).
    const head = [...decodeMultiple([...d.sm.snapshot()][0] as Uint8Array)][0] as [string, string, object];
    expect(Object.keys(head[2])).not.toContain('activeVersion');
    d.value(activate(2));
    const v2 = publishedId(d);
    const two = restored(d.sm);
    expect(two.state.activeVersion).toBe(2);
    expect(two.digest()).toBe(d.sm.digest());
    for (const id of [v1, v2])
      expect(two.read({ type: 'task', id }).answer).toEqual(d.sm.read({ type: 'task', id }).answer);
    // Taking the field out of the head (an old snapshot) gives version 1 — and the stored digest then
    // no longer matches, since the digest covers the version.
    const chunks = [...d.sm.snapshot()];
    const h = [...decodeMultiple(chunks[0] as Uint8Array)][0] as [string, string, Record<string, unknown>];
    expect(h[2]['activeVersion']).toBe(2);
    delete h[2]['activeVersion'];
    chunks[0] = encode(h);
    expect(() => new QueueStateMachine().restore(chunks)).toThrow(/digest mismatch/);
  });

  it('replicas with different caps agree at every index while the version allows them all', () => {
    const full = new Driver();
    const capped = new Driver({ smMax: 1 });
    const both = (c: Command): void => {
      const a = full.run(c);
      expect(capped.run(c)).toEqual(a);
      expect(capped.sm.digest()).toBe(full.sm.digest());
    };
    both({ type: 'bindTopic', topic: 'orders', queue: 'billing' });
    both(publish);
    both(activate(1));
    both(publish);
  });

  it('a capped replica stops on an activation above its cap, before the entry changes anything', () => {
    const d = new Driver({ smMax: 1 });
    d.value({ type: 'createQueue', queue: 'q' });
    const applied = d.sm.appliedIndex();
    const digest = d.sm.digest();
    // The activation rides with another command: neither is applied.
    let thrown: unknown = null;
    try {
      d.entry([{ type: 'createQueue', queue: 'r' }, activate(2)]);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(SmVersionError);
    expect((thrown as Error).message).toBe(STOP2);
    expect(d.sm.appliedIndex()).toBe(applied);
    expect(d.sm.digest()).toBe(digest);
    expect(d.sm.state.queues.has('r')).toBe(false);
    // The same entry again (a restart replays it): the same stop.
    d.index--;
    expect(() => d.entry([activate(2)])).toThrow(STOP2);
    // Its cap is enough for version 1: a no-op activation applies.
    d.index--;
    expect(d.entry([activate(1)])[0]?.answer).toEqual({ ok: true, value: { activeVersion: 1, changed: false } });
  });

  it('a state of a version above the cap is refused on restore, and the replica keeps its state', () => {
    const d = new Driver();
    d.value(activate(2));
    const low = new Driver({ smMax: 1 });
    low.value({ type: 'createQueue', queue: 'mine' });
    const before = low.sm.digest();
    expect(() => low.sm.restore([...d.sm.snapshot()])).toThrow(STOP2);
    expect(low.sm.digest()).toBe(before);
    expect(restored(d.sm, 2).state.activeVersion).toBe(2);
  });

  it('the leader check names each member behind and its version (learners too, unheard ones)', () => {
    const members = [
      { id: 'n1', smMax: 2 },
      { id: 'n2', smMax: 1 },
      { id: 'n3', smMax: null },
    ];
    expect(membersBehind(members, 1)).toEqual([{ id: 'n3', smMax: null }]);
    const behind = membersBehind(members, 2);
    expect(behind).toEqual([
      { id: 'n2', smMax: 1 },
      { id: 'n3', smMax: null },
    ]);
    expect(behindMessage(2, behind)).toBe(
      'cannot activate state machine version 2: n2 (supports up to 1), n3 (version not heard yet) are behind; upgrade them first',
    );
    expect(membersBehind([{ id: 'n1', smMax: 2 }], 2)).toEqual([]);
  });
});
