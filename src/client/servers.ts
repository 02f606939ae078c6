// The SDK's view of the cluster's nodes (issue 18): servers are tracked by node id once a Status
// names them (an address string until then), so a leader hint and the same node's entry in the
// server list are one node; a node that just failed or timed out waits out a short back-off and is
// not tried again before the others. Pure bookkeeping over an injected clock: no I/O.
import type { Clock } from './clock.js';
import type { Message } from './transport.js';

/** Election timeout assumed until a node reports its own (ms). */
const ELECTION_MAX_DEFAULT_MS = 1_000;

interface ServerNode {
  /** Node id once a Status named it, else null. */
  id: string | null;
  /** Addresses that reach it: the ones the caller listed first, then advertised ones. */
  addresses: string[];
  /** Consecutive failures, and until when the node is not tried while others are available. */
  failures: number;
  failedAt: number;
  backoffUntil: number;
  /** A Status was asked of it (ids are learned once). */
  probed: boolean;
  /** The role its last Status gave (null: none answered yet), and when a Status was last asked of it. */
  role: string | null;
  askedAt: number;
}

/** How often a leader that answers as one is asked again whether it still leads (× election timeout). */
const LEADER_RECHECK_ELECTIONS = 10;

export interface ServerBookOptions {
  /** Back-off of a failed node: min * 2^(failures-1), at most max (ms). */
  backoffMsMin: number;
  backoffMsMax: number;
  /** Advertised address -> the address this client reaches it at (proxies, NAT). */
  addressMap?: Readonly<Record<string, string>>;
  /** The client network this client is on: members are dialled at their address on it, when they have one. */
  network?: string;
}

export class ServerBook {
  private readonly nodes: ServerNode[] = [];
  private leaderNode: ServerNode | null = null;
  /** The node tried last while no leader is known (the rotation continues after it). */
  private lastTried: ServerNode | null = null;
  private electionMax = ELECTION_MAX_DEFAULT_MS;
  /** Default advertised address -> the same node's address on our network (learned from Status). */
  private readonly onNetwork = new Map<string, string>();

  constructor(
    seeds: readonly string[],
    private readonly clock: Clock,
    private readonly opts: ServerBookOptions,
  ) {
    for (const a of seeds) if (this.byAddress(a) === undefined) this.nodes.push(fresh(null, a));
  }

  /** The address of the known leader, if any. */
  get leader(): string | null {
    return this.leaderNode?.addresses[0] ?? null;
  }

  /** Every address the book knows, in rotation order (for error messages). */
  get addresses(): string[] {
    return this.nodes.flatMap((n) => n.addresses);
  }

  /** The largest election timeout a node reported (ms), or the default until one did. */
  get electionTimeoutMsMax(): number {
    return this.electionMax;
  }

  /**
   * Where the next attempt goes: the leader; else the next node after the last one tried that is not
   * backing off; else (all backing off) the one that failed longest ago, never the one that just did.
   */
  target(): string {
    if (this.leaderNode !== null) return this.leaderNode.addresses[0] as string;
    const now = this.clock.now();
    const start = this.lastTried === null ? 0 : this.nodes.indexOf(this.lastTried) + 1;
    const order = this.nodes.map((_, i) => this.nodes[(start + i) % this.nodes.length] as ServerNode);
    const pick =
      order.find((n) => n.backoffUntil <= now) ??
      order.reduce((best, n) => (n.failedAt < best.failedAt ? n : best), order[0] as ServerNode);
    this.lastTried = pick;
    return pick.addresses[0] as string;
  }

  /**
   * A call to `address` failed. `escalate` (down, timed out): the node's back-off doubles with each
   * failure in a row; otherwise (it answered but knows no leader) it waits the short one, unchanged.
   */
  failed(address: string, escalate = true): void {
    const n = this.byAddress(address);
    if (n === undefined) return;
    if (escalate) n.failures += 1;
    n.failedAt = this.clock.now();
    const { backoffMsMin: min, backoffMsMax: max } = this.opts;
    const ms = escalate ? Math.min(max, min * 2 ** Math.min(n.failures - 1, 16)) : Math.min(max, 5 * min);
    n.backoffUntil = n.failedAt + ms * (0.75 + this.clock.random() / 4);
    this.lastTried = n;
    if (this.leaderNode === n) this.leaderNode = null;
  }

  /** How long until some node may be tried: 0 if one is not backing off (ms). */
  waitMs(): number {
    const now = this.clock.now();
    return Math.max(0, Math.min(...this.nodes.map((n) => n.backoffUntil)) - now);
  }

  /**
   * A call to `address` succeeded: it is healthy, and (`asLeader`) the leader if none is known.
   * True when that made it the leader (a follower may have forwarded the call: ask its Status).
   */
  succeeded(address: string, asLeader: boolean): boolean {
    const n = this.ensure(address);
    n.failures = 0;
    n.backoffUntil = 0;
    if (!asLeader || this.leaderNode !== null) return false;
    this.leaderNode = n;
    return true;
  }

  /** The first address of each node whose id no Status has told yet. */
  unidentified(): string[] {
    return this.nodes.filter((n) => n.id === null).map((n) => n.addresses[0] as string);
  }

  /** Whether a Status of `address` would teach something (its node id is not known yet); asks once. */
  wantsStatus(address: string): boolean {
    const n = this.ensure(address);
    if (n.id !== null || n.probed) return false;
    n.probed = true;
    n.askedAt = this.clock.now();
    return true;
  }

  /**
   * Whether the node we send to as the leader should be asked its Status again: it never said it
   * leads (a follower forwarding our calls, whose Status may now name the leader) and half an
   * election timeout passed since we last asked; or it said so, but ten election timeouts ago.
   */
  recheck(address: string): boolean {
    const n = this.byAddress(address);
    if (n === undefined || n !== this.leaderNode) return false;
    const every = n.role === 'leader' ? LEADER_RECHECK_ELECTIONS * this.electionMax : this.electionMax / 2;
    const now = this.clock.now();
    if (now - n.askedAt < every) return false;
    n.askedAt = now;
    return true;
  }

  /**
   * A NOT_LEADER hint from `from` names `hint`: follow it at once (true) unless it names the node
   * that answered, or a node that just failed (a stale hint of a paused or dead leader).
   */
  hint(hint: string, from: string): boolean {
    const n = this.ensure(this.reachable(hint));
    if (n === this.byAddress(from) || n.backoffUntil > this.clock.now()) return false;
    this.leaderNode = n;
    return true;
  }

  /** What a node's Status says: its id, the members' ids and addresses, the leader, its timeouts. */
  learn(address: string, status: Message): void {
    const self = this.ensure(address);
    self.role = typeof status['role'] === 'string' ? status['role'] : null;
    const id = typeof status['id'] === 'string' && status['id'] !== '' ? status['id'] : null;
    if (id !== null) this.identify(self, id);
    const members = Array.isArray(status['members']) ? (status['members'] as Message[]) : [];
    this.learnNetworks(status, members);
    for (const m of members) {
      const mid = typeof m['id'] === 'string' ? m['id'] : '';
      const raw = typeof m['address'] === 'string' ? m['address'] : '';
      const maddr = this.reachable(raw);
      if (mid === '' || maddr === '') continue;
      const node =
        this.nodes.find((x) => x.id === mid) ??
        this.byAddress(maddr) ??
        this.byAddress(raw) ??
        this.add(fresh(mid, maddr));
      this.identify(node, mid);
      if (!node.addresses.includes(maddr)) node.addresses.push(maddr);
      // Its address on our network is the one to dial, ahead of a default one learned earlier.
      if (this.onNetwork.get(raw) === maddr && node.addresses[0] !== maddr)
        node.addresses.unshift(...node.addresses.splice(node.addresses.indexOf(maddr), 1));
    }
    const et = status['electionTimeoutMs'] as Message | undefined;
    const max = typeof et?.['max'] === 'number' ? et['max'] : 0;
    if (max > 0) this.electionMax = max;
    this.passBy(self, status);
  }

  /**
   * The node we send to as the leader says it is a follower (it forwarded our calls): go to the
   * leader it names directly, unless that node ever failed since its last success (a client that
   * cannot reach the leader stays with the forwarding follower instead of stalling on the leader).
   */
  private passBy(self: ServerNode, status: Message): void {
    const leaderAddress = status['leaderAddress'];
    if (this.leaderNode !== self || status['role'] === 'leader' || typeof leaderAddress !== 'string') return;
    if (leaderAddress === '') return;
    const n = this.ensure(this.reachable(leaderAddress));
    if (n !== self && n.failures === 0 && n.backoffUntil <= this.clock.now()) this.leaderNode = n;
  }

  /**
   * Each member's address on our network (the answering node's own list and its members' lists):
   * its default advertised address, as hints and members name it, maps to that one.
   */
  private learnNetworks(status: Message, members: Message[]): void {
    const network = this.opts.network;
    if (network === undefined) return;
    const on = (list: unknown): string | undefined => {
      if (!Array.isArray(list)) return undefined;
      const hit = (list as Message[]).find((x) => x['name'] === network && typeof x['address'] === 'string');
      return hit === undefined || hit['address'] === '' ? undefined : (hit['address'] as string);
    };
    for (const m of members) {
      const own = m['id'] === status['id'] ? (on(status['networks']) ?? on(m['networks'])) : on(m['networks']);
      if (typeof m['address'] === 'string' && m['address'] !== '' && own !== undefined)
        this.onNetwork.set(m['address'], own);
    }
  }

  /** How long one attempt may wait for its answer before it is tried elsewhere (ms). */
  attemptTimeoutMs(): number {
    return Math.max(500, Math.ceil(1.5 * this.electionMax));
  }

  /** The address to dial for an address a node advertised: the caller's map, else our network's. */
  private reachable(address: string): string {
    const mapped = this.opts.addressMap?.[address];
    return mapped === undefined || mapped === '' ? (this.onNetwork.get(address) ?? address) : mapped;
  }

  private add(n: ServerNode): ServerNode {
    this.nodes.push(n);
    return n;
  }

  private ensure(address: string): ServerNode {
    return this.byAddress(address) ?? this.add(fresh(null, address));
  }

  private byAddress(address: string): ServerNode | undefined {
    return this.nodes.find((n) => n.addresses.includes(address));
  }

  /** `n` is node `id`: merge it with another entry already known under that id (one node, one entry). */
  private identify(n: ServerNode, id: string): void {
    const other = this.nodes.find((x) => x !== n && x.id === id);
    n.id = id;
    if (other === undefined) return;
    for (const a of other.addresses) if (!n.addresses.includes(a)) n.addresses.push(a);
    n.failures = Math.max(n.failures, other.failures);
    n.failedAt = Math.max(n.failedAt, other.failedAt);
    n.backoffUntil = Math.max(n.backoffUntil, other.backoffUntil);
    n.probed ||= other.probed;
    n.role ??= other.role;
    n.askedAt = Math.max(n.askedAt, other.askedAt);
    if (this.leaderNode === other) this.leaderNode = n;
    if (this.lastTried === other) this.lastTried = n;
    this.nodes.splice(this.nodes.indexOf(other), 1);
  }
}

function fresh(id: string | null, address: string): ServerNode {
  return {
    id,
    addresses: [address],
    failures: 0,
    failedAt: -Infinity,
    backoffUntil: 0,
    probed: false,
    role: null,
    askedAt: -Infinity,
  };
}
