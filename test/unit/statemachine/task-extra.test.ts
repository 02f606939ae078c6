// TaskExtra keeps its seldom-used fields in a second object made on first use (records.ts): every
// replicated field reads back what was set, an unset rare field costs nothing, and EXTRA_FIELDS (the
// snapshot's field order) names every replicated field once.
import { describe, expect, it } from 'vitest';
import { EXTRA_FIELDS, TaskExtra } from '../../../src/statemachine/records.js';

describe('statemachine - TaskExtra', () => {
  it('reads back every replicated field, and makes the rare part only when a rare field gets a value', () => {
    const x = new TaskExtra();
    x.ttlAt = 5;
    x.wallDue = true;
    x.key = undefined;
    expect(x.rare).toBeUndefined();
    const rec = x as unknown as Record<string, unknown>;
    const fields = EXTRA_FIELDS.filter((k) => k !== 'headers');
    fields.forEach((k, i) => (rec[k] = `v${i}`));
    fields.forEach((k, i) => expect(rec[k]).toBe(`v${i}`));
    expect(x.rare).toBeDefined();
  });

  it('EXTRA_FIELDS covers the fields of both parts, in the order of the class before the split', () => {
    const x = new TaskExtra();
    x.topic = 't'; // makes the rare part
    const own = Object.keys(x).filter((k) => k !== 'rare' && k !== 'lk');
    const fields = ['headers', ...own, ...Object.keys(x.rare ?? {})]; // headers: on the task
    expect([...fields].sort()).toEqual([...EXTRA_FIELDS].sort());
    expect(new Set(EXTRA_FIELDS).size).toBe(EXTRA_FIELDS.length);
    expect(EXTRA_FIELDS.slice(0, 4)).toEqual(['headers', 'group', 'key', 'ttlAt']);
    expect(EXTRA_FIELDS.at(-1)).toBe('topic');
  });
});
