// The worker's lease-safety bounds (docs/design.md §2.4): `leaseMs ≥ marginMs + 3 × election
// timeout`, `marginMs ≥ 500 ms + 2·ρmax·(leaseMs + holdMsMax)`, an extend at least every
// (leaseMs − marginMs) / 3. The election timeout is the `electionTimeoutMsMax` option when given (an
// override), else the largest a node reported in its status (the client's server book; 1 s until
// one did). The options are checked against what is known when the worker is made; a node that
// later reports a longer election timeout lengthens the leases (and the margin) the worker asks
// for, just enough, instead of weakening the bound.
import { raftqError } from './errors.js';
import { renamedOption } from './renamed-options.js';
import { marginMinMs } from './worker-belief.js';
import type { WorkerOptions } from './worker-types.js';

export interface LeaseTimes {
  leaseMs: number;
  marginMs: number;
  extendEveryMs: number;
}

/** The checked options: the lease, margin and extend interval asked for (MAX_SAFE_INTEGER: none), and the override. */
interface Settings extends LeaseTimes {
  holdMsMax: number;
  electionOverride: number | null;
}

export function intOption(v: number | undefined, dflt: number, field: string, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw raftqError('INVALID_ARGUMENT', `${field}: must be an integer in [${min}, ${max}]`, { field });
  }
  return v;
}

/** The times for an election timeout of `electionMs`: the options, lengthened just enough. */
export function timesFor(s: Settings, electionMs: number): LeaseTimes {
  let leaseMs = s.leaseMs;
  let marginMs = s.marginMs;
  // A longer lease needs a (slightly) longer margin, which needs a longer lease: a few rounds settle it.
  for (let i = 0; i < 8; i++) {
    const l = Math.max(s.leaseMs, marginMs + 3 * electionMs);
    const m = Math.max(s.marginMs, marginMinMs(l, s.holdMsMax));
    if (l === leaseMs && m === marginMs) break;
    leaseMs = l;
    marginMs = m;
  }
  leaseMs = Math.max(leaseMs, marginMs + 3 * electionMs);
  return { leaseMs, marginMs, extendEveryMs: Math.min(s.extendEveryMs, Math.floor((leaseMs - marginMs) / 3)) };
}

export class LeaseBounds {
  private electionMs = -1;
  private times: LeaseTimes;

  private constructor(
    private readonly s: Settings,
    private readonly reported: () => number,
  ) {
    this.times = timesFor(s, 0);
  }

  /** Checks the options against the election timeout known now (throws INVALID_ARGUMENT naming the field). */
  static of(o: WorkerOptions, leaseMsMax: number, reported: () => number): LeaseBounds {
    const leaseMs = intOption(o.leaseMs, 30_000, 'leaseMs', 1, leaseMsMax);
    const holdMsMax = intOption(renamedOption<number>(o, 'holdMsMax', 'maxHoldMs'), 20_000, 'holdMsMax', 0, 3_600_000);
    const override = renamedOption<number>(o, 'electionTimeoutMsMax', 'electionTimeoutMaxMs');
    const electionOverride =
      override === undefined ? null : intOption(override, 0, 'electionTimeoutMsMax', 1, 3_600_000);
    const electionMax = electionOverride ?? reported();
    const marginMin = marginMinMs(leaseMs, holdMsMax);
    const marginMs = intOption(
      renamedOption<number>(o, 'marginMs', 'margin'),
      marginMin,
      'marginMs',
      0,
      Number.MAX_SAFE_INTEGER,
    );
    if (marginMs < marginMin) {
      throw raftqError('INVALID_ARGUMENT', `marginMs: must be at least ${marginMin} ms for leaseMs ${leaseMs}`, {
        field: 'marginMs',
      });
    }
    const leaseMin = marginMs + 3 * electionMax;
    if (leaseMs < leaseMin) {
      throw raftqError('INVALID_ARGUMENT', `leaseMs: must be at least ${leaseMin} ms (margin + 3 × election timeout)`, {
        field: 'leaseMs',
      });
    }
    // Without the option, extends follow the lease: at least every (lease − margin) / 3.
    const extendEveryMs = intOption(
      o.extendEveryMs,
      Number.MAX_SAFE_INTEGER,
      'extendEveryMs',
      1,
      Number.MAX_SAFE_INTEGER,
    );
    return new LeaseBounds({ leaseMs, marginMs, extendEveryMs, holdMsMax, electionOverride }, reported);
  }

  get holdMsMax(): number {
    return this.s.holdMsMax;
  }

  /** The election timeout the bounds are for: the override, else what the nodes reported. */
  get electionTimeoutMsMax(): number {
    return this.s.electionOverride ?? this.reported();
  }

  /** The lease, margin and extend interval to use now. */
  current(): LeaseTimes {
    const e = this.electionTimeoutMsMax;
    if (e !== this.electionMs) {
      this.times = timesFor(this.s, e);
      this.electionMs = e;
    }
    return this.times;
  }
}
