// The interpreter behind the transcript tests (transcripts.test.ts, in the style of etcd-io/raft's
// data-driven tests): a scenario file is a list of steps, each a command line, a `----` line, and the
// output the step must print, ended by a blank line. Nodes are named 1, 2, 3…; each has a
// MemoryStorage and handles its Ready as the driver contract says (persist, send, apply, advance).
// Messages wait in a network queue until a step delivers them, so each step shows exactly what the
// core sends and decides.
//
// Commands:
//   cluster <n> [prevote=false] [checkquorum=false]   voters 1..n, empty logs
//   add-node <id>                                      a node with empty storage (to join as learner)
//   tick <id> [times]          campaign <id> (ticks until it leaves follower)
//   propose <id> <text>        read-index <id> <ctx>     transfer <id> <to>
//   add-learner <id> <new>     promote <id> <learner>    remove <id> <member>
//   ready <id> (handle one Ready)   deliver <id> / drop <id> (deliver or lose its queued messages)
//   stabilize (readies and deliveries until quiet)      isolate <id> / heal (drop messages on cut links)
//   compact <id> <index> [data] (snapshot at index, default data state@index; drop the log up to it)
//   status <id>                log <id>

import { makeRaftConfig } from '../../../src/raft/config.js';
import { RaftNode } from '../../../src/raft/node.js';
import { Rng } from '../../../src/raft/rng.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import { EntryType, MessageType } from '../../../src/raft/types.js';
import type { Entry, Member, Membership, Message, Ready, SoftState } from '../../../src/raft/types.js';

export interface Step {
  line: number;
  command: string;
  expected: string;
}

/** Parses a transcript: `# comments`, then blocks of `command`, `----`, output lines, blank line. */
export function parseTranscript(text: string): Step[] {
  const lines = text.split('\n');
  const steps: Step[] = [];
  let k = 0;
  while (k < lines.length) {
    const l = (lines[k] as string).trimEnd();
    if (l === '' || l.startsWith('#')) {
      k++;
      continue;
    }
    if (lines[k + 1]?.trimEnd() !== '----') throw new Error(`line ${k + 2}: expected ---- after a command`);
    const out: string[] = [];
    let j = k + 2;
    for (; j < lines.length && (lines[j] as string).trimEnd() !== ''; j++) out.push((lines[j] as string).trimEnd());
    steps.push({ line: k + 1, command: l, expected: out.join('\n') });
    k = j;
  }
  return steps;
}

const dec = new TextDecoder();
const enc = new TextEncoder();

function fmtMembers(m: Membership): string {
  const voters = m.members.filter((x) => x.role === 'voter').map((x) => x.id);
  const learners = m.members.filter((x) => x.role === 'learner').map((x) => x.id);
  return `voters=(${voters.join(',')})${learners.length > 0 ? ` learners=(${learners.join(',')})` : ''}`;
}

export function fmtEntry(e: Entry): string {
  if (e.type === EntryType.NoOp) return `${e.term}/${e.index} noop`;
  if (e.type === EntryType.Config) return `${e.term}/${e.index} config ${fmtMembers(e.config ?? { members: [] })}`;
  return `${e.term}/${e.index} "${dec.decode(e.data)}"`;
}

export function fmtMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case MessageType.Append: {
      const entries = (m.entries ?? []).map(fmtEntry).join(', ');
      return `${head} prev=${m.logTerm}/${m.index} commit=${m.commit}${entries === '' ? '' : ` [${entries}]`}`;
    }
    case MessageType.AppendResp:
      if (m.reject === true) return `${head} rejected index=${m.index} hint=${m.rejectTerm}/${m.rejectHint}`;
      return `${head} index=${m.index}`;
    case MessageType.Vote:
    case MessageType.PreVote:
      return `${head} last=${m.logTerm}/${m.index}${m.transfer === true ? ' transfer' : ''}`;
    case MessageType.VoteResp:
    case MessageType.PreVoteResp:
      return `${head}${m.reject === true ? ' rejected' : ' granted'}`;
    case MessageType.Heartbeat:
      return `${head} commit=${m.commit}${m.context !== undefined ? ` ctx=${m.context}` : ''}`;
    case MessageType.HeartbeatResp:
      return `${head}${m.context !== undefined ? ` ctx=${m.context}` : ''}`;
    case MessageType.Snapshot: {
      const s = m.snapshot;
      if (s === undefined) return head;
      const part = `bytes ${s.offset}..${s.offset + s.chunk.length} of ${s.total}${s.done ? ' done' : ''}`;
      return `${head} snap=${s.meta.term}/${s.meta.index} ${part}`;
    }
    case MessageType.SnapshotResp:
      return `${head} snap=${m.snapshotIndex} received=${m.index}`;
    case MessageType.TimeoutNow:
      return head;
  }
}

function fmtSoft(s: SoftState): string {
  return `state: ${s.role} term=${s.term} lead=${s.leader ?? '-'}`;
}

interface TNode {
  node: RaftNode;
  storage: MemoryStorage;
  lastSoft: string;
}

export class Transcript {
  private nodes = new Map<string, TNode>();
  private net: Message[] = [];
  private cut = new Set<string>();
  private opts = { preVote: true, checkQuorum: true };
  private members: Member[] = [];

  /** Runs one command; returns what it prints. */
  run(command: string): string {
    const [cmd = '', ...args] = command.split(/\s+/);
    const out: string[] = [];
    this.dispatch(cmd, args, out);
    return out.length === 0 ? 'ok' : out.join('\n');
  }

  private dispatch(cmd: string, args: string[], out: string[]): void {
    const a = args[0] ?? '';
    const b = args[1] ?? '';
    switch (cmd) {
      case 'cluster':
        return this.cluster(Number(a), args.slice(1));
      case 'add-node':
        this.addNode(a, { members: [] });
        return;
      case 'tick':
        for (let k = 0; k < Number(b === '' ? 1 : b); k++) this.get(a).node.tick();
        return;
      case 'campaign':
        return this.campaign(a, out);
      case 'propose':
        this.get(a).node.propose(1, enc.encode(args.slice(1).join(' ')));
        return;
      case 'read-index':
        this.get(a).node.readIndex(Number(b));
        return;
      case 'transfer':
        out.push(JSON.stringify(this.get(a).node.transferLeader(b)));
        return;
      case 'add-learner':
        out.push(JSON.stringify(this.get(a).node.addLearner({ id: b, storageId: `s${b}`, address: `n${b}` })));
        return;
      case 'promote':
        out.push(JSON.stringify(this.get(a).node.promote(b)));
        return;
      case 'remove':
        out.push(JSON.stringify(this.get(a).node.removeMember(b)));
        return;
      default:
        this.dispatchNetwork(cmd, args, out);
    }
  }

  private dispatchNetwork(cmd: string, args: string[], out: string[]): void {
    const a = args[0] ?? '';
    switch (cmd) {
      case 'ready':
        if (!this.ready(a, out, '')) out.push('no Ready');
        return;
      case 'deliver':
        this.deliver(a, out, '');
        return;
      case 'drop':
        for (const m of this.net.filter((x) => x.to === a)) out.push(`${fmtMessage(m)} (dropped)`);
        this.net = this.net.filter((x) => x.to !== a);
        return;
      case 'stabilize':
        return this.stabilize(out);
      case 'isolate':
        for (const id of this.nodes.keys()) if (id !== a) this.cut.add(`${a}->${id}`).add(`${id}->${a}`);
        return;
      case 'heal':
        this.cut.clear();
        return;
      case 'compact':
        return this.compact(a, Number(args[1]), args[2] ?? `state@${args[1]}`);
      case 'status':
        out.push(this.status(a));
        return;
      case 'log':
        return this.log(a, out);
      default:
        throw new Error(`unknown command ${cmd}`);
    }
  }

  private cluster(n: number, flags: string[]): void {
    this.opts.preVote = !flags.includes('prevote=false');
    this.opts.checkQuorum = !flags.includes('checkquorum=false');
    this.members = Array.from({ length: n }, (_, k) => ({
      id: `${k + 1}`,
      storageId: `s${k + 1}`,
      address: `n${k + 1}`,
      role: 'voter',
    }));
    for (const m of this.members) this.addNode(m.id, { members: this.members });
  }

  private addNode(id: string, membership: Membership): void {
    const storage = new MemoryStorage(membership);
    const cfg = makeRaftConfig({
      id,
      storageId: `s${id}`,
      group: 1,
      electionTicks: 10,
      heartbeatTicks: 2,
      snapshotChunkBytes: 8,
      ...this.opts,
    });
    const node = new RaftNode(cfg, storage, new Rng(Number(id)));
    this.nodes.set(id, { node, storage, lastSoft: fmtSoft(node.softState()) });
  }

  private get(id: string): TNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  private campaign(id: string, out: string[]): void {
    const n = this.get(id).node;
    let ticks = 0;
    while (n.currentRole === 'follower' && ticks < 100) {
      n.tick();
      ticks++;
    }
    out.push(`${id} is ${n.currentRole} at term ${n.currentTerm}`);
  }

  /** Handles one Ready of `id` as the driver does; prints it. */
  private ready(id: string, out: string[], indent: string): boolean {
    const t = this.get(id);
    if (!t.node.hasReady()) return false;
    const rd = t.node.ready();
    if (rd.snapshot !== null) t.storage.applySnapshot(rd.snapshot);
    t.storage.append(rd.entries);
    if (rd.hardState !== null) t.storage.setHardState(rd.hardState);
    this.net.push(...rd.messages);
    t.node.advance();
    for (const l of this.fmtReady(t, rd)) out.push(indent + l);
    return true;
  }

  private fmtReady(t: TNode, rd: Ready): string[] {
    const lines = [`Ready${rd.mustSync ? ' (sync)' : ''}:`];
    const soft = fmtSoft(rd.softState);
    if (soft !== t.lastSoft) lines.push(soft);
    t.lastSoft = soft;
    const hs = rd.hardState;
    if (hs !== null) lines.push(`hard state: term=${hs.term} vote=${hs.vote ?? '-'} commit=${hs.commit}`);
    if (rd.snapshot !== null) {
      const m = rd.snapshot.meta;
      lines.push(`snapshot: ${m.term}/${m.index} ${fmtMembers(m.membership)} "${dec.decode(rd.snapshot.data)}"`);
    }
    const list = (name: string, items: string[]): void => {
      if (items.length > 0) lines.push(`${name}:`, ...items.map((x) => `  ${x}`));
    };
    list('entries', rd.entries.map(fmtEntry));
    list('committed', rd.committedEntries.map(fmtEntry));
    list('messages', rd.messages.map(fmtMessage));
    list('reads', [
      ...rd.readStates.map((r) => `ctx=${r.ctx} index=${r.index}`),
      ...rd.droppedReads.map((r) => `ctx=${r.ctx} dropped: ${r.reason}`),
    ]);
    list(
      'dropped proposals',
      rd.droppedProposals.map((p) => `${p.id}: ${p.reason}`),
    );
    return lines;
  }

  /** Steps every queued message addressed to `id` into it (dropped on a cut link); prints them. */
  private deliver(id: string, out: string[], indent: string): boolean {
    const mine = this.net.filter((m) => m.to === id);
    if (mine.length === 0) return false;
    this.net = this.net.filter((m) => m.to !== id);
    const t = this.nodes.get(id);
    for (const m of mine) {
      const cut = this.cut.has(`${m.from}->${m.to}`) || t === undefined;
      out.push(`${indent}${fmtMessage(m)}${cut ? ' (dropped)' : ''}`);
      if (!cut) t.node.step(m);
    }
    return true;
  }

  private stabilize(out: string[]): void {
    for (let round = 0; round < 100; round++) {
      let busy = false;
      for (const id of this.nodes.keys()) {
        const lines: string[] = [];
        while (this.ready(id, lines, '  ')) busy = true;
        if (lines.length > 0) out.push(`> ${id} handling Ready`, ...lines);
      }
      for (const id of [...new Set(this.net.map((m) => m.to))].sort()) {
        out.push(`> ${id} receiving`);
        busy = this.deliver(id, out, '  ') || busy;
      }
      if (!busy) return;
    }
    throw new Error('did not stabilize in 100 rounds');
  }

  private compact(id: string, index: number, data: string): void {
    const t = this.get(id);
    const snap = t.node.buildSnapshot(index, enc.encode(data));
    t.storage.createSnapshot(snap);
    t.storage.compact(index);
  }

  private status(id: string): string {
    const s = this.get(id).node.status();
    const parts = [`${id}: ${s.role} term=${s.term} vote=${s.vote ?? '-'} lead=${s.leader ?? '-'}`];
    parts.push(`log=${s.firstIndex}..${s.lastIndex} commit=${s.commit} applied=${s.applied}`);
    parts.push(fmtMembers(s.membership));
    const lines = [parts.join(' ')];
    for (const p of s.progress) lines.push(`  ${p.id}: match=${p.match} next=${p.next} ${p.state}`);
    return lines.join('\n');
  }

  private log(id: string, out: string[]): void {
    const t = this.get(id);
    const first = t.storage.firstIndex();
    const last = t.storage.lastIndex();
    if (first > last) out.push(`(empty after ${first - 1})`);
    else for (const e of t.storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER)) out.push(fmtEntry(e));
  }
}
