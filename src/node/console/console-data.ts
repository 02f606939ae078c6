// What the web console shows, built from what the node already has: the executor's status, the
// state machine's reads (docs/design.md §3) and sessionless admin commands through the same executor
// the gRPC client service uses. Reads are linearizable on the leader; a follower (or a leader that
// cannot confirm its leadership in time) answers from its own applied state, marked stale with asOf.
import { gunzipSync } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { Answer, AsOf, AttemptRecord, Command, ReadQuery, TaskState, TaskView } from '../../protocol/commands.js';
import { DEFAULT_LIMITS } from '../../protocol/limits.js';
import { validateCommand } from '../../protocol/validate.js';
import type { ClientExecutor, FsyncSummary } from '../../rpc/executor.js';
import { MemberStatuses, type MemberStatusSource } from './member-status.js';

/** Raft facts the executor's status does not carry, passed in by the node (all optional). */
export interface ConsoleSource {
  executor: ClientExecutor;
  /** Each member's storage id as this node's membership knows it ('' when not yet learned). */
  storageIds?: () => Record<string, string>;
  /** Wall ms at which this node last received a peer message from `id`. */
  lastHeard?: (id: string) => number | undefined;
  /** Wall clock (replaceable in tests). */
  now?: () => number;
  /** Asks the other members for their own status (term, indexes, fsync latency); absent: unknown. */
  members?: MemberStatusSource;
  /** Calls back on each leader change this node sees; returns the unsubscribe. */
  watchLeader?: (cb: (leader: string | null, term: number) => void) => () => void;
}

export interface ConsoleRead<T = unknown> {
  /** True when answered from this node's applied state without confirming leadership. */
  stale: boolean;
  asOf: AsOf;
  answer: Answer<T>;
}

export interface MemberRow {
  id: string;
  address: string;
  role: string;
  self: boolean;
  /** null: unknown on this node. */
  term: number | null;
  commitIndex: number | null;
  appliedIndex: number | null;
  matchIndex: number | null;
  /** Leader's view: commit index minus the member's match index. */
  lagEntries: number | null;
  /** Ms since this node last heard the member (null: never / self). */
  lastContactMs: number | null;
  storageId: string | null;
  recovering: { index: number; term: number } | null;
  /** Whether this node knows the member's own facts (itself, or a member that answered its Status). */
  known: boolean;
  /** The member's own fsync latency over the last minute (null: unknown, or no write in it). */
  fsync: FsyncSummary | null;
}

export interface ClusterView {
  node: string;
  clusterId: string;
  leader: string | null;
  leaderAddress: string | null;
  role: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  ready: boolean;
  members: MemberRow[];
  /** Leadership changes this node saw in the last hour (oldest first). */
  leaderChanges: { at: number; term: number; leader: string | null }[];
}

/** Payload previews are capped so one huge task cannot stall the page. */
export const PREVIEW_BYTES_MAX = 4096;
const GUNZIP_MAX = 1 << 20;
const READ_MS = 3_000;
const ACTION_MS = 5_000;
const HOUR_MS = 3_600_000;

const packr = new Packr({ useRecords: false, structuredClone: false, mapsAsObjects: true, moreTypes: false });

export class ConsoleData {
  private readonly changes: ClusterView['leaderChanges'] = [];
  private lastLeader: { term: number; leader: string | null } | null = null;

  private readonly remote: MemberStatuses | null;

  constructor(private readonly src: ConsoleSource) {
    this.remote = src.members ? new MemberStatuses(src.members, () => this.now()) : null;
  }

  private now(): number {
    return this.src.now?.() ?? Date.now();
  }

  cluster(): ClusterView {
    const st = this.src.executor.status();
    this.noteLeader(st);
    const ids = this.src.storageIds?.() ?? {};
    const now = this.now();
    this.remote?.poll(st.members.filter((m) => m.id !== st.id));
    return {
      node: st.id,
      clusterId: st.clusterId,
      leader: st.leader,
      leaderAddress: st.leaderAddress,
      role: st.role,
      term: st.term,
      commitIndex: st.commitIndex,
      appliedIndex: st.appliedIndex,
      ready: st.ready,
      members: st.members.map((m) => {
        const self = m.id === st.id;
        const heard = self ? undefined : this.src.lastHeard?.(m.id);
        const match = m.matchIndex ?? null;
        // This node knows its own indexes; another member's come from its own recent Status answer.
        const own = self
          ? { ...st, fsync: st.fsync ?? null, recovering: st.recovering ?? null }
          : (this.remote?.get(m.id) ?? null);
        return {
          id: m.id,
          address: m.address,
          role: m.role,
          self,
          term: own?.term ?? null,
          commitIndex: own?.commitIndex ?? null,
          appliedIndex: own?.appliedIndex ?? null,
          matchIndex: match,
          lagEntries: match === null ? null : Math.max(0, st.commitIndex - match),
          lastContactMs: heard === undefined ? null : Math.max(0, now - heard),
          storageId: ids[m.id] ? (ids[m.id] as string) : null,
          recovering: own?.recovering ?? null,
          known: own !== null,
          fsync: own?.fsync ?? null,
        };
      }),
      leaderChanges: this.changes.slice(),
    };
  }

  /**
   * Records leadership changes as the node sees them, console open or not (a 1 s sampler cost each node
   * a wake-up a second at idle); starts from the node's current view. Returns the unsubscribe.
   */
  follow(): () => void {
    this.noteLeader(this.src.executor.status());
    return this.src.watchLeader?.((leader, term) => this.noteLeader({ leader, term })) ?? (() => undefined);
  }

  /** Records a leadership change seen on this node; keeps the last hour. */
  private noteLeader(st: { term: number; leader: string | null }): void {
    const last = this.lastLeader;
    if (last === null || last.term !== st.term || last.leader !== st.leader) {
      // A leader appearing, or a known leader lost; not the leaderless terms of one election.
      if (st.leader !== null || (last !== null && last.leader !== null)) {
        this.changes.push({ at: this.now(), term: st.term, leader: st.leader });
      }
      this.lastLeader = { term: st.term, leader: st.leader };
    }
    const cutoff = this.now() - HOUR_MS;
    while (this.changes.length > 0 && (this.changes[0] as { at: number }).at < cutoff) this.changes.shift();
    if (this.changes.length > 500) this.changes.splice(0, this.changes.length - 500);
  }

  /** A read, linearizable when this node leads; otherwise (or on a timeout) this node's applied state. */
  async read(query: ReadQuery): Promise<ConsoleRead> {
    const ex = this.src.executor;
    const lin = await ex.read(query, { consistency: 'linearizable', deadline: performance.now() + READ_MS });
    if (lin.answer.ok || !retryStale(lin.answer)) return { stale: false, ...lin };
    const st = await ex.read(query, { consistency: 'stale', deadline: performance.now() + READ_MS });
    return { stale: true, ...st };
  }

  async queues(): Promise<ConsoleRead> {
    return this.read({ type: 'queues' });
  }

  /** A page of the queue's limit keys and their usage (the `keys` read), sorted by key. */
  async keys(queue: string, cursor: string | undefined, limit: number): Promise<ConsoleRead> {
    return this.read({ type: 'keys', queue, ...(cursor !== undefined ? { cursor } : {}), limit });
  }

  async task(id: string): Promise<ConsoleRead> {
    const r = await this.read({ type: 'task', id });
    return r.answer.ok ? { ...r, answer: { ok: true, value: taskJson(r.answer.value as TaskView) } } : r;
  }

  /**
   * One page of a queue's tasks in a state, or of its dead letters (state 'deadLetters'). With a
   * filter, consecutive pages are scanned (bounded) until `limit` tasks match; the cursor then points
   * past the last task scanned, so paging on never skips or repeats one.
   */
  async list(
    queue: string,
    state: string,
    cursor: string | undefined,
    limit: number,
    filter: TaskFilter = {},
  ): Promise<ConsoleRead> {
    const filtered = filter.group !== undefined || filter.key !== undefined || filter.header !== undefined;
    const items: TaskView[] = [];
    let next = cursor;
    let scanned = 0;
    let r: ConsoleRead | null = null;
    let stale = false;
    for (let pages = 0; pages < (filtered ? SCAN_PAGES : 1); pages++) {
      r = await this.read(listQuery(queue, state, next, filtered ? SCAN_PAGE : limit));
      if (!r.answer.ok) return r;
      stale ||= r.stale;
      const value = r.answer.value as { items: TaskView[]; nextCursor: string | null };
      scanned += value.items.length;
      items.push(...value.items.filter((t) => matches(t, filter)));
      next = value.nextCursor ?? undefined;
      if (next === undefined || items.length >= limit) break;
    }
    const read = r as ConsoleRead;
    const value = { items: items.map(taskJson), nextCursor: next ?? null, scanned };
    // Pages of one scan may come from different reads: stale if any of them was.
    return { ...read, stale, answer: { ok: true, value } };
  }

  /**
   * An admin command, sessionless (the one-shot path of the client service): pause, resume and purge
   * are idempotent; a redrive whose outcome is unknown is reported as such, never re-sent.
   */
  async action(cmd: unknown): Promise<{ answer: Answer; index: number }> {
    const checked = validateCommand(cmd, DEFAULT_LIMITS);
    if (!checked.ok) return { answer: checked, index: 0 };
    const allowed: Command['type'][] = ['pauseQueue', 'resumeQueue', 'purgeQueue', 'redrive'];
    if (!allowed.includes(checked.value.type)) {
      return {
        answer: { ok: false, error: { code: 'INVALID_ARGUMENT', message: 'not a console action', field: 'type' } },
        index: 0,
      };
    }
    const r = await this.src.executor.execute([{ session: null, seq: 0, cmd: checked.value }], {
      deadline: performance.now() + ACTION_MS,
    });
    const answer = r.answers[0] ?? { ok: false, error: { code: 'INTERNAL', message: 'no answer' } };
    return { answer, index: r.index };
  }
}

export interface TaskFilter {
  group?: string;
  /** Idempotency key. */
  key?: string;
  header?: { name: string; value: string };
}

/** Filtered lists read this many tasks a page, at most this many pages a request. */
const SCAN_PAGE = 200;
const SCAN_PAGES = 10;

function listQuery(queue: string, state: string, cursor: string | undefined, limit: number): ReadQuery {
  const page = { ...(cursor !== undefined ? { cursor } : {}), limit };
  return state === 'deadLetters'
    ? { type: 'deadLetters', queue, ...page }
    : { type: 'list', queue, state: state as TaskState, ...page };
}

function matches(t: TaskView, f: TaskFilter): boolean {
  if (f.group !== undefined && t.group !== f.group) return false;
  if (f.key !== undefined && t.idempotencyKey !== f.key) return false;
  if (f.header !== undefined && t.headers[f.header.name] !== f.header.value) return false;
  return true;
}

/** Errors after which this node's own applied state is still worth showing (marked stale). */
function retryStale(a: Answer): boolean {
  return !a.ok && ['NOT_LEADER', 'DEADLINE_EXCEEDED', 'UNAVAILABLE'].includes(a.error.code);
}

export interface PayloadPreview {
  bytes: number;
  /** 'json': decoded msgpack (or a JSON text); 'text': UTF-8; 'hex': neither; 'none': empty. */
  kind: 'json' | 'text' | 'hex' | 'none';
  preview: string;
  truncated: boolean;
}

/** Decodes a payload for display: per the SDK's encoding headers, msgpack shown as JSON when it parses. */
export function previewBytes(bytes: Uint8Array | undefined, headers: Record<string, string> = {}): PayloadPreview {
  if (bytes === undefined || bytes.byteLength === 0) return { bytes: 0, kind: 'none', preview: '', truncated: false };
  let data = bytes;
  if (headers['raftq-compression'] === 'gzip') {
    try {
      data = new Uint8Array(gunzipSync(bytes, { maxOutputLength: GUNZIP_MAX }));
    } catch {
      return cap(bytes.byteLength, 'hex', hex(bytes));
    }
  }
  if (headers['raftq-codec'] !== 'raw') {
    try {
      const json = JSON.stringify(packr.unpack(data), jsonSafe, 2);
      if (json !== undefined) return cap(bytes.byteLength, 'json', json);
    } catch {
      // not msgpack: shown as text or hex below
    }
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(data.subarray(0, PREVIEW_BYTES_MAX));
  // eslint-disable-next-line no-control-regex
  const printable = !/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text);
  return printable ? cap(bytes.byteLength, 'text', text) : cap(bytes.byteLength, 'hex', hex(data));
}

function jsonSafe(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return `<${v.byteLength} bytes>`;
  return v;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.subarray(0, PREVIEW_BYTES_MAX / 2)).toString('hex');
}

function cap(bytes: number, kind: PayloadPreview['kind'], s: string): PayloadPreview {
  const truncated = s.length > PREVIEW_BYTES_MAX || (kind === 'hex' && bytes > PREVIEW_BYTES_MAX / 2);
  return { bytes, kind, preview: s.slice(0, PREVIEW_BYTES_MAX), truncated };
}

type AttemptJson = AttemptRecord;

/** A task view with its byte fields replaced by previews (JSON has no bytes). */
export function taskJson(t: TaskView): Record<string, unknown> {
  const { payload, checkpoint, result, history, deadLetterOf, ...rest } = t;
  const out: Record<string, unknown> = {
    ...rest,
    payload: previewBytes(payload, t.headers),
    history: history as AttemptJson[],
  };
  if (checkpoint !== undefined) out['checkpoint'] = previewBytes(checkpoint);
  if (result !== undefined) out['result'] = previewBytes(result);
  if (deadLetterOf !== undefined) out['deadLetterOf'] = deadLetterOf;
  return out;
}
