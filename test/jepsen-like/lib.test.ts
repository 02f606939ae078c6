// Fast checks of the suite's own pieces (no node processes): the white-box observer reports each
// kind of violation, schedule and nemesis names parse, and every planted-bug patch still matches
// the compiled code it patches (a patch that stopped matching would silently test nothing).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nemesisKinds } from './lib/nemesis.js';
import { patchedFile, plants } from './lib/planted.js';
import { namedSchedule, parseNemeses, scheduleNames } from './lib/schedules.js';
import { WhiteboxObserver } from './lib/whitebox.js';

const status = (id: string, role: string, term: number, commitIndex = 5, appliedIndex = 5) => ({
  id,
  role,
  term,
  leader: role === 'leader' ? id : null,
  commitIndex,
  appliedIndex,
  ready: true,
});

describe('white-box observer', () => {
  it('accepts one leader per term, rising terms and applied ≤ committed', () => {
    const w = new WhiteboxObserver();
    w.observe(status('n1', 'leader', 1));
    w.observe(status('n2', 'follower', 1));
    w.observe(status('n2', 'leader', 2));
    w.observe(status('n1', 'follower', 2, 7, 6));
    expect(w.result()).toMatchObject({ valid: true, count: 0 });
  });

  it('reports two leaders in one term', () => {
    const w = new WhiteboxObserver();
    w.observe(status('n1', 'leader', 3));
    w.observe(status('n2', 'leader', 3));
    expect(w.result()).toMatchObject({ valid: false, details: { 'two-leaders-in-term': 1 } });
  });

  it('reports a term going back, also across a restart', () => {
    const w = new WhiteboxObserver();
    w.observe(status('n1', 'follower', 4));
    w.observe(status('n1', 'follower', 2));
    expect(w.result()).toMatchObject({ valid: false, details: { 'term-decreased': 1 } });
  });

  it('reports applied above committed, and violations found outside the polling', () => {
    const w = new WhiteboxObserver();
    w.observe(status('n1', 'follower', 1, 5, 6));
    w.violation('node-crashed', { id: 'n2', code: 1 });
    expect(w.result()).toMatchObject({
      valid: false,
      count: 2,
      details: { 'applied-above-commit': 1, 'node-crashed': 1 },
    });
  });
});

describe('schedules and nemeses', () => {
  it('parses nemesis lists and all', () => {
    expect(parseNemeses('all')).toEqual([...nemesisKinds]);
    expect(parseNemeses('kill, pause')).toEqual(['kill', 'pause']);
    expect(() => parseNemeses('kill,fire')).toThrow(/unknown nemesis fire/);
  });

  it('knows every schedule of docs/faults.md §1.2, the membership ones (C5, C12) included', () => {
    for (const name of scheduleNames) expect(namedSchedule(name).kinds.length).toBeGreaterThan(0);
    expect(scheduleNames).toHaveLength(13);
    expect(namedSchedule('C5').kinds).toEqual(['member', 'kill']);
    expect(namedSchedule('C12').kinds).toEqual(['member', 'partition']);
    expect(() => namedSchedule('C99')).toThrow(/unknown schedule/);
  });
});

describe('planted bugs', () => {
  it('every patch matches the compiled code exactly where it must', () => {
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
    for (const p of Object.values(plants)) {
      for (const [file, from, to] of p.patches ?? []) {
        const text = readFileSync(patchedFile(root, file), 'utf8');
        expect(text.includes(from), `${p.name}: ${from}`).toBe(true);
        expect(text.includes(to), `${p.name} already applied: ${to}`).toBe(false);
      }
    }
  });
});
