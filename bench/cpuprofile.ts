// Reading V8 .cpuprofile files (node --cpu-prof, or the inspector's Profiler): self time per
// function, inclusive time per function (each stack counts a function once, so recursion is not
// double counted) and self time per area of the code base (raft core, state machine, storage, gRPC…).

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FnTime {
  fn: string;
  ms: number;
  pct: number;
}
export interface ProfileSummary {
  wallMs: number;
  /** Sampled time that was not idle. */
  busyMs: number;
  idleMs: number;
  gcMs: number;
  areas: FnTime[];
  topSelf: FnTime[];
  topInclusive: FnTime[];
}

/** Areas, first match wins, by the frame's file (or name for V8's pseudo frames). */
const AREAS: [string, RegExp][] = [
  ['gc', /^\(garbage collector\)$/],
  ['idle', /^\(idle\)$/],
  ['program (native, outside JS)', /^\(program\)$/],
  ['raft core (src/raft)', /^src\/raft\//],
  ['state machine (src/statemachine)', /^src\/statemachine\//],
  ['protocol codec (src/protocol)', /^src\/protocol\//],
  ['storage (src/node/storage)', /^src\/node\/storage\//],
  ['driver (src/node/driver, log-clock)', /^src\/node\/(driver|log-clock)/],
  ['node: server, metrics, admin (src/node)', /^src\/node\//],
  ['rpc: peer (src/rpc/peer-*)', /^src\/rpc\/peer-/],
  ['rpc: client service (src/rpc)', /^src\/rpc\//],
  ['SDK (src/client)', /^src\/client\//],
  ['bench', /^bench\//],
  ['grpc-js', /^@grpc\/grpc-js/],
  ['protobufjs / proto-loader', /protobufjs|proto-loader|@protobufjs/],
  ['msgpackr', /^msgpackr/],
  ['level / classic-level / abstract-level', /^(level|classic-level|abstract-level|maybe-combine-errors|module-error)/],
  ['pino / prom-client', /^(pino|prom-client|sonic-boom|thread-stream|tdigest|bintrees)/],
  ['node: http2 / net / streams', /node:(internal\/)?(http2|net|stream|_stream|internal\/streams|internal\/http2)/],
  ['node: timers / promises / task queues', /node:internal\/(timers|process\/task_queues|async_hooks)/],
  ['node: other internals', /^node:/],
];

const ROOT = new URL('..', import.meta.url).href;

/** A frame's file relative to the checkout (`src/raft/node.js`), or the package path under node_modules. */
function rel(url: string): string {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  return url.startsWith(ROOT) ? url.slice(ROOT.length).replace(/^dist\//, '') : url;
}

function frameKey(f: CallFrame): string {
  const file = rel(f.url);
  return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
}

function areaOf(f: CallFrame): string {
  const s = f.url ? rel(f.url) : f.functionName;
  for (const [name, re] of AREAS) if (re.test(s)) return name;
  return f.url ? 'other JS' : `native: ${f.functionName}`;
}

function top(m: Map<string, number>, total: number, k: number): FnTime[] {
  return [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([fn, us]) => ({ fn, ms: Math.round(us / 100) / 10, pct: Math.round((us / total) * 1000) / 10 }));
}

export function summarizeProfile(p: CpuProfile, k = 25): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0));
  }
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const areas = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  let total = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const f = node.callFrame;
    if (f.functionName === '(idle)') idle += us;
    if (f.functionName === '(garbage collector)') gc += us;
    self.set(frameKey(f), (self.get(frameKey(f)) ?? 0) + us);
    areas.set(areaOf(f), (areas.get(areaOf(f)) ?? 0) + us);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = frameKey((byId.get(at) as ProfileNode).callFrame);
      if (seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + us);
    }
  }
  const busy = total - idle;
  self.delete('(idle)');
  areas.delete('idle');
  for (const k2 of ['(root)', '(program)', '(idle)']) incl.delete(k2);
  return {
    wallMs: Math.round((p.endTime - p.startTime) / 1000),
    busyMs: Math.round(busy / 1000),
    idleMs: Math.round(idle / 1000),
    gcMs: Math.round(gc / 1000),
    areas: top(areas, busy, 30),
    topSelf: top(self, busy, k),
    topInclusive: top(incl, busy, k + 15),
  };
}
