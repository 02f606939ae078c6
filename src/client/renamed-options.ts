// Options renamed to the one naming rule for limits (`…Max` / `…Min` after the unit: `holdMsMax`,
// `pendingCallsMax`; a duration names its unit: `marginMs`). The old names still work, each with a
// one-time DeprecationWarning; given both, the new name wins.

const warned = new Set<string>();

/** The value under `newName`, or else under the deprecated `oldName` (warning once per process). */
export function renamedOption<T>(o: object, newName: string, oldName: string, what = 'option'): T | undefined {
  const r = o as Record<string, unknown>;
  if (r[newName] !== undefined) return r[newName] as T;
  const old = r[oldName];
  if (old === undefined) return undefined;
  const key = `${what}:${oldName}`;
  if (!warned.has(key)) {
    warned.add(key);
    process.emitWarning(`raftq: ${what} "${oldName}" is deprecated; use "${newName}"`, {
      type: 'DeprecationWarning',
      code: 'RAFTQ_RENAMED_OPTION',
    });
  }
  return old as T;
}
