// Client addresses per client network (issue 18): a node may be reached at different addresses from
// different client networks (behind a proxy, a NAT, a container bridge). Each node is started with its
// own (`--advertise host:port,public=h:p`); the others learn them over the peer port (the
// ClientForward service's Addresses call, authenticated like every peer call) and every Status lists
// them, per member, so a client that names its network (the SDK's `network` option) translates the
// default addresses of hints and members into the ones it can reach (src/client/servers.ts).
import type { NodeId } from '../raft/types.js';
import type { ClientExecutor, NetworkAddress, NodeStatus } from './executor.js';
import type { ForwardSender } from './forward-link.js';

export type Networks = Readonly<Record<string, string>>;

export const NETWORK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const NETWORKS_MAX = 16;
const ADDRESS_CHARS_MAX = 300;

/** The Addresses reply body: this node's named addresses, JSON. */
export function encodeNetworks(networks: Networks): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ networks }));
}

/** A peer's Addresses reply, checked: well-formed names and addresses, bounded; else null. */
export function decodeNetworks(body: Uint8Array): Record<string, string> | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return null;
  }
  const raw = (parsed as { networks?: unknown } | null)?.networks;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > NETWORKS_MAX) return null;
  const out: Record<string, string> = {};
  for (const [name, address] of entries) {
    if (!NETWORK_NAME_RE.test(name) || typeof address !== 'string') return null;
    if (address === '' || address.length > ADDRESS_CHARS_MAX) return null;
    out[name] = address;
  }
  return out;
}

function list(n: Networks | undefined): NetworkAddress[] {
  return Object.entries(n ?? {}).map(([name, address]) => ({ name, address }));
}

export interface MemberNetworksOptions {
  selfId: NodeId;
  own: Networks;
  sender: ForwardSender;
  /** A member's entry is asked again after this long (ms, default 60 s); one with none, every 2 s. */
  refreshMs?: number;
  now?: () => number;
}

/** What this node knows of the members' named client addresses, asked of each peer in turn. */
export class MemberNetworks {
  private readonly known = new Map<NodeId, Networks>();
  private readonly askedAt = new Map<NodeId, number>();
  private readonly inFlight = new Set<NodeId>();
  private readonly now: () => number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(private readonly o: MemberNetworksOptions) {
    this.now = o.now ?? (() => performance.now());
  }

  /**
   * Refreshes in the background (unref'd: it never keeps the process up): every 2 s while a member's
   * entry is missing, else every 10 s, which only notices new members (a wake-up at idle costs CPU).
   */
  start(members: () => NodeId[]): void {
    if (this.timer !== null || this.stopped) return;
    const schedule = (ms: number): void => {
      this.timer = setTimeout(next, ms);
      this.timer.unref?.();
    };
    const next = (): void => {
      const ids = members();
      this.refresh(ids);
      schedule(ids.some((id) => id !== this.o.selfId && !this.known.has(id)) ? 2_000 : 10_000);
    };
    schedule(2_000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  of(id: NodeId): Networks | undefined {
    return id === this.o.selfId ? this.o.own : this.known.get(id);
  }

  /** The status with this node's and each member's named addresses (as far as known). */
  decorate(s: NodeStatus): NodeStatus {
    const members = s.members.map((m) => {
      const n = list(this.of(m.id));
      return n.length > 0 ? { ...m, networks: n } : m;
    });
    const own = list(this.o.own);
    return { ...s, members, ...(own.length > 0 ? { networks: own } : {}) };
  }

  /** Asks the members whose entry is missing (every 2 s) or old (refreshMs) for theirs. */
  refresh(members: readonly NodeId[]): void {
    const now = this.now();
    for (const id of members) {
      if (id === this.o.selfId || this.inFlight.has(id)) continue;
      const every = this.known.has(id) ? (this.o.refreshMs ?? 60_000) : 2_000;
      if (now - (this.askedAt.get(id) ?? -Infinity) < every) continue;
      this.askedAt.set(id, now);
      this.inFlight.add(id);
      this.o.sender
        .send('Addresses', id, encodeNetworks({}), 2_000)
        .then((body) => {
          const networks = decodeNetworks(body);
          if (networks !== null) this.known.set(id, networks);
        })
        // A peer down or older (no Addresses call): asked again later; its default address stays.
        .catch(() => undefined)
        .finally(() => this.inFlight.delete(id));
    }
  }
}

/** The client port's executor with the members' named addresses in every Status. */
export function withNetworks(inner: ClientExecutor, networks: MemberNetworks): ClientExecutor {
  return {
    execute: (cmds, opts) => inner.execute(cmds, opts),
    read: (query, opts) => inner.read(query, opts),
    subscribe: (filter, onEvent) => inner.subscribe(filter, onEvent),
    onStepDown: (cb) => inner.onStepDown(cb),
    status: () => {
      const s = inner.status();
      networks.refresh(s.members.map((m) => m.id));
      return networks.decorate(s);
    },
  };
}
