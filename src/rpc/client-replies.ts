// Command answers and read results of the state machine -> client.proto replies. The answer values
// are plain data (src/statemachine); protobufjs drops unknown and null fields on encoding, so most
// shapes pass through and only lists and unions need reshaping here.
import type { AsOf, Command, ReadQuery } from '../protocol/commands.js';
import type { ExecuteResult, NodeStatus } from './executor.js';

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
}
function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
/** A list answered either bare or under `key`. */
function listOf(v: unknown, key: string): unknown[] {
  return Array.isArray(v) ? v : list(obj(v)[key]);
}

export function commandReply(method: string, cmd: Command, value: unknown, result: ExecuteResult): Obj {
  const index = result.index;
  const v = obj(value);
  switch (method) {
    case 'OpenSession':
      return {
        session: typeof value === 'string' ? value : (v['session'] ?? v['id']),
        timeoutMs: v['timeoutMs'] ?? 0,
        index,
      };
    case 'Enqueue':
      return { items: listOf(value, 'items'), index };
    case 'Lease':
      return { tasks: listOf(value, 'tasks'), heldMs: Math.max(0, Math.floor(result.heldMs)), index };
    case 'Extend':
      return { deadlineMono: typeof value === 'number' ? value : (v['deadlineMono'] ?? 0), index };
    case 'Ack': {
      const items = cmd.type === 'ack' ? cmd.items : [];
      const answers = listOf(value, 'items');
      const results = items.map((item, i) => {
        const a = obj(answers[i]);
        // Per-item answers {ok, value | error}; anything else means the whole command succeeded.
        if (a['ok'] === false) return { id: item.id, ok: false, error: a['error'] };
        return { id: item.id, ok: true };
      });
      return { results, index };
    }
    case 'Nack':
      return { ...v, state: v['state'] ?? '', index };
    case 'Release':
    case 'Cancel':
    case 'Promote':
    case 'Update':
      return { state: typeof value === 'string' ? value : (v['state'] ?? ''), index };
    case 'Redrive':
      return { ids: listOf(value, 'items').map((x) => (typeof x === 'string' ? x : obj(x)['id'])), index };
    default:
      return { index };
  }
}

export function readReply(query: ReadQuery, value: unknown, asOf: AsOf): Obj {
  switch (query.type) {
    case 'task':
      return { asOf, task: value };
    case 'list':
    case 'deadLetters': {
      const v = obj(value);
      const out: Obj = { asOf, items: listOf(value, 'items') };
      if (typeof v['nextCursor'] === 'string') out['nextCursor'] = v['nextCursor'];
      return out;
    }
    case 'stats':
      return { asOf, stats: value };
    case 'queues':
      return { asOf, queues: listOf(value, 'queues').map((q) => (typeof q === 'string' ? { queue: q } : q)) };
    default:
      return { asOf };
  }
}

export function statusReply(s: NodeStatus): Obj {
  const out: Obj = { ...s, members: s.members.map((m) => ({ ...m })) };
  if (s.leader === null) delete out['leader'];
  if (s.leaderAddress === null) delete out['leaderAddress'];
  return out;
}
