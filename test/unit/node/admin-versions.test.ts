// The join check of state machine versions (issue 16, src/node/admin-versions.ts): a node whose
// SM_MAX is below the cluster's active version is refused before it becomes a learner, with the
// message a member stopping on it prints; a joiner of a release before versions (no smMax) runs 1.
import { describe, expect, it } from 'vitest';
import { joinVersionRefusal } from '../../../src/node/admin-versions.js';

describe('admin versions - join', () => {
  it('refuses a joiner below the active version, naming both', () => {
    expect(joinVersionRefusal(1, 2)).toBe(
      'the cluster runs state machine version 2; this raftq supports up to 1: upgrade this member',
    );
    expect(joinVersionRefusal(undefined, 2)).toContain('supports up to 1');
    expect(joinVersionRefusal('3', 2)).toContain('supports up to 1');
    expect(joinVersionRefusal(2, 2)).toBeNull();
    expect(joinVersionRefusal(3, 2)).toBeNull();
    expect(joinVersionRefusal(undefined, 1)).toBeNull();
  });
});
