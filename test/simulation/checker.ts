// Safety checkers run by the simulation after every step. Each check is incremental (cost per new
// entry or per commit advance), so they can run on every event of thousands of seeds.

import type { Entry } from '../../src/raft/types.js';

interface SeenEntry {
  term: number;
  prevTerm: number;
  type: number;
  data: Uint8Array;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function hashBytes(h: number, data: Uint8Array): number {
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ (data[i] as number), 16777619);
  return h >>> 0;
}

export function hashEntry(h: number, e: Entry): number {
  h = Math.imul(h ^ e.index, 16777619);
  h = Math.imul(h ^ e.term, 16777619);
  h = Math.imul(h ^ e.type, 16777619);
  return hashBytes(h, e.data);
}

export class SafetyChecker {
  readonly violations: string[] = [];
  private leaderOfTerm = new Map<number, string>();
  /** Entries ever persisted, by index: one record per term (Log Matching). */
  private seen: SeenEntry[][] = [];
  /** Term of each committed index, as first learned from any node. */
  private committedTerm: number[] = [0];
  globalCommit = 0;
  /** State-machine hash after applying each index. */
  private smHash: number[] = [];
  newLeaders = 0;

  constructor(private readonly now: () => number) {}

  fail(what: string): void {
    if (this.violations.length < 20) this.violations.push(`t=${this.now().toFixed(1)} ${what}`);
  }

  /** Election Safety; on a new leader also Leader Completeness. */
  leader(id: string, term: number, termAt: (i: number) => number | undefined, lastIndex: number): void {
    const known = this.leaderOfTerm.get(term);
    if (known === id) return;
    if (known !== undefined) {
      this.fail(`election safety: ${known} and ${id} both lead term ${term}`);
      return;
    }
    this.leaderOfTerm.set(term, id);
    this.newLeaders++;
    const g = this.globalCommit;
    const t = termAt(g);
    if (t === undefined) {
      if (g > lastIndex) this.fail(`leader completeness: ${id} (term ${term}) lacks committed index ${g}`);
    } else if (t !== this.committedTerm[g]) {
      this.fail(`leader completeness: ${id} (term ${term}) has term ${t} at committed index ${g}`);
    }
  }

  /** Log Matching, checked per persisted entry: same (index, term) means same entry and same predecessor. */
  persisted(node: string, e: Entry, prevTerm: number | undefined): void {
    let list = this.seen[e.index];
    if (list === undefined) {
      list = [];
      this.seen[e.index] = list;
    }
    for (const s of list) {
      if (s.term !== e.term) continue;
      if (s.type !== e.type || !bytesEqual(s.data, e.data)) {
        this.fail(`log matching: ${node} has a different entry at (${e.index}, ${e.term})`);
      } else if (prevTerm !== undefined && s.prevTerm !== -1 && s.prevTerm !== prevTerm) {
        this.fail(
          `log matching: ${node} has (${e.index}, ${e.term}) after term ${prevTerm}, others after ${s.prevTerm}`,
        );
      } else if (s.prevTerm === -1 && prevTerm !== undefined) {
        s.prevTerm = prevTerm;
      }
      return;
    }
    list.push({ term: e.term, prevTerm: prevTerm ?? -1, type: e.type, data: e.data });
  }

  /** A node's commit index moved to `c`: committed entries never change. */
  committed(node: string, c: number, termAt: (i: number) => number | undefined): void {
    if (c <= this.globalCommit) {
      const t = termAt(c);
      const want = this.committedTerm[c];
      if (t !== undefined && want !== undefined && want >= 0 && t !== want) {
        this.fail(`commit: ${node} commits term ${t} at ${c}, but term ${want} was committed there`);
      }
      return;
    }
    for (let i = this.globalCommit + 1; i <= c; i++) this.committedTerm[i] = termAt(i) ?? -1;
    this.globalCommit = c;
  }

  /** State Machine Safety: every node reaches the same state after applying the same index. */
  applied(node: string, index: number, hash: number): void {
    const want = this.smHash[index];
    if (want === undefined) this.smHash[index] = hash;
    else if (want !== hash) this.fail(`state machine safety: ${node} diverges at applied index ${index}`);
  }

  committedTermAt(i: number): number | undefined {
    return this.committedTerm[i];
  }
}
