// Applying `activateVersion` (src/statemachine/version.ts): the replicated version only moves up, and
// a replica whose cap is below a version an entry activates stops before that entry changes anything.
import type { Answer, SessionCommand } from '../protocol/index.js';
import type { MachineState } from './state.js';
import { ok } from './state.js';
import { SmVersionError } from './version.js';

/** Answer of `activateVersion`: the version active after it, and whether this command moved it. */
export interface ActivateAnswer {
  activeVersion: number;
  changed: boolean;
}

/** The command: sets activeVersion when higher; a lower or equal version is a no-op answer. */
export function activateVersion(st: MachineState, version: number, smMax: number): Answer<ActivateAnswer> {
  // Checked for the whole entry before it was applied (refuseAbove); kept here as the last guard.
  if (version > smMax) throw new SmVersionError(version, smMax);
  if (version <= st.activeVersion) return ok({ activeVersion: st.activeVersion, changed: false });
  st.activeVersion = version;
  return ok({ activeVersion: version, changed: true });
}

/**
 * Before an entry is applied: throws SmVersionError when one of its commands activates a version
 * above this replica's cap, so neither that entry nor anything after it is applied here.
 */
export function refuseAbove(st: MachineState, cmds: readonly SessionCommand[], smMax: number): void {
  for (const sc of cmds) {
    const c: unknown = sc.cmd;
    if (typeof c !== 'object' || c === null) continue;
    const { type, version } = c as { type?: unknown; version?: unknown };
    if (type !== 'activateVersion' || typeof version !== 'number' || !Number.isSafeInteger(version)) continue;
    if (version > smMax && version > st.activeVersion) throw new SmVersionError(version, smMax);
  }
}

/** On restore: a state whose active version is above this replica's cap is refused. */
export function refuseRestore(activeVersion: number, smMax: number): void {
  if (activeVersion > smMax) throw new SmVersionError(activeVersion, smMax);
}
