// A task's story in the CLI (issue 15, src/protocol/story.ts): `tasks get` prints it as a table, one
// step a line with the log index and term of the entry that made it and its time; `--json` carries
// the steps with that time added (`at`, wall ms).
import type { AsOf, StoryStep } from '../protocol/index.js';
import { table } from './cli-common.js';

/** A step's wall time: its entry's, or its mono stamp at the read's clocks (null: unknown). */
function wallOf(s: StoryStep, asOf: AsOf | null): number | null {
  if (s.wall !== undefined) return s.wall;
  return s.mono === undefined || asOf === null ? null : asOf.wall - (asOf.mono - s.mono);
}

/** The steps for `--json`: as read, each with its time. */
export function storyJson(story: StoryStep[] | undefined, asOf: AsOf | null): Record<string, unknown>[] | undefined {
  return story?.map((s) => ({ ...s, at: wallOf(s, asOf) }));
}

/** What a step says, for people (the console's words, src/node/console/static/story.js). */
export function stepText(s: StoryStep): string {
  switch (s.kind) {
    case 'leased':
      return `attempt ${s.attempt ?? '?'}: leased to ${s.workerId ?? '?'}, token ${s.token ?? '?'}`;
    case 'attempt_ended':
      return `attempt ${s.attempt ?? '?'}: ${s.end ?? '?'}${s.error !== undefined ? ` — ${s.error}` : ''}`;
    case 'ended':
      return `${s.state ?? '?'}${s.detail !== undefined ? ` (${s.detail})` : ''}`;
    case 'truncated':
      return `… ${s.detail ?? 'steps not kept'}`;
    default:
      return s.detail !== undefined ? `${s.kind}: ${s.detail}` : s.kind;
  }
}

function iso(ms: unknown): string {
  return typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : '-';
}

/** `tasks get` for people: the story as a table (steps from `storyJson`). */
export function storyTable(steps: Record<string, unknown>[]): string {
  const rows = steps.map((raw) => {
    const s = raw as unknown as StoryStep & { at: number | null };
    const entry =
      s.kind === 'truncated' ? `#${s.index}…` : `#${s.index}${s.term !== undefined ? ` term ${s.term}` : ''}`;
    return [entry, iso(s.at), stepText(s)];
  });
  return table(['ENTRY', 'AT', 'STEP'], rows);
}
