// The leader's command pipeline: commands wait in `queued` until the next flush packs them into
// entries (`proposing`, keyed by proposal id), Raft then says at which index each entry went
// (`inflight`, keyed by log index), and the commands are answered once their entry is applied — or
// failed when the entry is dropped, overwritten or the leadership is lost (docs/faults.md P8).
import type { Answer, ErrorDetail, SessionCommand } from '../protocol/index.js';
import { encodeEnvelope, ENVELOPE_VERSION } from '../protocol/index.js';
import { encode } from '../protocol/codec.js';
import { defaultRaftLimits } from '../raft/config.js';
import { assert } from '../protocol/assert.js';
import type { Entry, Ready } from '../raft/types.js';
import { errAnswer } from './driver-types.js';
import type { Stamps } from './log-clock.js';
import type { LogIndex } from '../protocol/ids.js';

/**
 * Every entry gets a buffer of its own. msgpackr packs everything the node encodes (answers, frames,
 * snapshot chunks) into one shared buffer grown to four times the largest value, and a slice of it
 * keeps all of it alive: the in-memory log mirror keeps each entry until a snapshot, and the leader's
 * 76 MiB of entries held 303 MiB of such buffers (bench/RESULTS.md, session 33, target D).
 */

export interface PendingCommand {
  cmd: SessionCommand;
  resolve(r: { answer: Answer; index: LogIndex | 0 }): void;
  deadline: number;
}

type Proposal = { id: number; data: Uint8Array };

/** The envelope's own fields and array header, far above what they take. */
const ENVELOPE_HEADROOM_BYTES = 1024;

interface InFlight {
  term: number;
  cmds: PendingCommand[];
  index: number;
}

export class CommandPipeline {
  private nextProposalId = 1;
  /** Commands not yet in an entry. */
  private queued: PendingCommand[] = [];
  /** Proposal id -> commands, until Raft says at which index it went. */
  private readonly proposing = new Map<number, InFlight>();
  /** Log index -> commands, until applied. */
  private readonly inflight = new Map<number, InFlight>();
  /** Highest index handed to `inflight` since it was last emptied: in-flight indexes only grow. */
  private lastInflightIndex = 0;
  /** Commands enqueued and not yet answered. */
  private pending = 0;
  /** Client commands proposed, and proposed commands that failed by reason (for the metrics). */
  readonly stats = { proposed: 0, failed: new Map<string, number>() };

  constructor(
    private readonly commandsPerEntryMax: number,
    /** Raft's largest entry (RaftConfig.maxEntryBytes): commands that each fit are packed to fit. */
    private readonly entryBytesMax: number = defaultRaftLimits.maxEntryBytes,
  ) {}

  /** Commands not yet packed into an entry. */
  queuedCount(): number {
    return this.queued.length;
  }

  /** The queued commands, in order (not a copy: read before queueing more). */
  *queuedCommands(): Generator<SessionCommand> {
    for (const c of this.queued) yield c.cmd;
  }

  /** Every command the pipeline holds and has not answered: queued, proposing and in flight. */
  pendingCount(): number {
    return this.pending;
  }

  /** Holds `c` until it is answered; its `resolve` is called exactly once. */
  enqueue(c: PendingCommand): void {
    let answered = false;
    const resolve = c.resolve;
    this.pending++;
    // Object.assign, not a spread then `resolve`: hot (every command), docs/decisions.md "No spread-then-extend on hot paths".
    this.queued.push(
      Object.assign({}, c, {
        resolve: (r: Parameters<PendingCommand['resolve']>[0]) => {
          assert(!answered, 'driver: a command is answered once');
          answered = true;
          this.pending--;
          resolve(r);
        },
      }),
    );
  }

  /** Takes every queued command, packed `commandsPerEntryMax` per entry, each entry stamped with `stamp()`. */
  pack(stamp: () => Stamps): { id: number; data: Uint8Array }[] {
    const items: { id: number; data: Uint8Array }[] = [];
    leasesLast(this.queued);
    while (this.queued.length > 0) this.packEntry(this.queued.splice(0, this.commandsPerEntryMax), stamp, items, true);
    return items;
  }

  private packEntry(batch: PendingCommand[], stamp: () => Stamps, items: Proposal[], mayRegroup: boolean): void {
    const stamps = stamp();
    const data = encodeEnvelope({
      v: ENVELOPE_VERSION,
      mono: stamps.mono,
      wall: stamps.wall,
      cmds: batch.map((c) => c.cmd),
    });
    // Raft refuses an entry over its limit, and with it every command inside: regroup the commands so
    // that only one too large on its own is refused (large payloads from many clients at once).
    if (data.length > this.entryBytesMax && batch.length > 1 && mayRegroup) return this.regroup(batch, stamp, items);
    const id = this.nextProposalId++;
    this.proposing.set(id, { term: 0, index: 0, cmds: batch });
    for (const c of batch) if (!isLeaderOwn(c)) this.stats.proposed++;
    items.push({ id, data: new Uint8Array(data) });
  }

  /** Groups by each command's own encoded size (msgpack nests encodings as they are), in order. */
  private regroup(batch: PendingCommand[], stamp: () => Stamps, items: Proposal[]): void {
    const budget = this.entryBytesMax - ENVELOPE_HEADROOM_BYTES;
    let group: PendingCommand[] = [];
    let bytes = 0;
    for (const c of batch) {
      const size = encode(c.cmd).length;
      if (group.length > 0 && bytes + size > budget) {
        this.packEntry(group, stamp, items, false);
        group = [];
        bytes = 0;
      }
      group.push(c);
      bytes += size;
    }
    if (group.length > 0) this.packEntry(group, stamp, items, false);
  }

  /** Raft placed these proposals in its log. */
  onProposed(proposed: Ready['proposed']): void {
    for (const p of proposed) {
      const f = this.proposing.get(p.id);
      if (!f) continue;
      this.proposing.delete(p.id);
      assert(
        p.index > this.lastInflightIndex,
        `driver: in-flight index ${p.index} does not grow past ${this.lastInflightIndex}`,
      );
      this.lastInflightIndex = p.index;
      f.index = p.index;
      f.term = p.term;
      this.inflight.set(p.index, f);
    }
  }

  /** Raft refused these proposals; `notLeader` is the detail for those dropped for want of leadership. */
  onDropped(dropped: Ready['droppedProposals'], notLeader: ErrorDetail): void {
    for (const d of dropped) {
      const f = this.proposing.get(d.id);
      if (!f) continue;
      this.proposing.delete(d.id);
      const detail: ErrorDetail =
        d.reason === 'too-large'
          ? { code: 'RESOURCE_EXHAUSTED', message: 'entry too large', limit: 'maxEntryBytes' }
          : d.reason === 'uncommitted-cap'
            ? {
                code: 'RESOURCE_EXHAUSTED',
                message: 'too much uncommitted data',
                limit: 'maxUncommittedBytes',
                retryAfterMs: 50,
              }
            : notLeader;
      this.countFailed(f.cmds, d.reason);
      failCommands(f.cmds, detail);
    }
  }

  /** The entry at `e.index` was applied with these answers: answer its commands if we proposed it. */
  onApplied(e: Entry, answers: readonly ({ answer: Answer } | undefined)[]): void {
    const f = this.inflight.get(e.index);
    if (!f) return;
    this.inflight.delete(e.index);
    if (f.term !== e.term) {
      this.countFailed(f.cmds, 'leadership-changed');
      failCommands(f.cmds, { code: 'UNAVAILABLE', message: 'leadership changed before the command committed' });
      return;
    }
    for (let k = 0; k < f.cmds.length; k++) {
      const a = answers[k];
      const c = f.cmds[k] as PendingCommand;
      c.resolve({
        answer: a ? a.answer : errAnswer({ code: 'INTERNAL', message: 'no answer for command' }),
        index: e.index,
      });
    }
  }

  /** A snapshot replaced the log up to `index`: entries there will never be applied here. */
  failInflightBelow(index: number): void {
    for (const [i, f] of this.inflight) {
      if (i <= index) {
        this.inflight.delete(i);
        this.countFailed(f.cmds, 'log-replaced');
        failCommands(f.cmds, { code: 'UNAVAILABLE', message: 'log replaced by a snapshot' });
      }
    }
  }

  /** Fails the queued commands only. */
  failQueued(detail: ErrorDetail): void {
    const q = this.queued;
    this.queued = [];
    failCommands(q, detail);
  }

  /** Fails the proposed and in-flight commands: they were started under a term this node no longer leads. */
  failStarted(detail: ErrorDetail, reason: string): void {
    const cmds = [...this.proposing.values(), ...this.inflight.values()].flatMap((f) => f.cmds);
    this.proposing.clear();
    this.inflight.clear();
    this.lastInflightIndex = 0;
    this.countFailed(cmds, reason);
    failCommands(cmds, detail);
  }

  private countFailed(cmds: PendingCommand[], reason: string): void {
    let n = 0;
    for (const c of cmds) if (!isLeaderOwn(c)) n++;
    if (n > 0) this.stats.failed.set(reason, (this.stats.failed.get(reason) ?? 0) + n);
  }
}

function failCommands(cmds: PendingCommand[], detail: ErrorDetail): void {
  for (const c of cmds) c.resolve({ answer: errAnswer(detail), index: 0 });
}

/** The leader's own commands (advanceTime, schedule slot refills) are not client commands in the metrics. */
function isLeaderOwn(c: PendingCommand): boolean {
  return c.cmd.cmd.type === 'advanceTime' || c.cmd.cmd.type === 'scheduleSlots';
}

/**
 * Moves the lease commands behind the rest of the batch, each group in its own order: a lease then
 * takes the tasks enqueued beside it, instead of leaving them for the next lease one commit round
 * later (under steady load every lease found ready tasks, so none was ever held, and 70 % of tasks
 * started 1–4 entries after their enqueue). Commands queued together are concurrent (none was
 * answered), so either order is a valid one; a session's answers are kept by seq, not by order.
 */
function leasesLast(queued: PendingCommand[]): void {
  let leases: PendingCommand[] | null = null;
  let w = 0;
  for (const c of queued) {
    if (c.cmd.cmd.type === 'lease') (leases ??= []).push(c);
    else queued[w++] = c;
  }
  if (leases !== null) for (const l of leases) queued[w++] = l;
}
