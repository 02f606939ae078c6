// `raftq keys QUEUE`: usage and limits of a queue's limit keys (issue 13), one page sorted by key:
// tasks leased and the cost units they hold, tasks waiting, weight, concurrency, whole tokens in the
// bucket, and how long a handler's 429 still holds the key back.
import { Command } from 'commander';
import { action, intArg, print, table, withCommon, type SetCode } from './cli-common.js';

const dash = (v: number | null): string | number => (v === null ? '-' : v);

export function keysCommand(setCode: SetCode): Command {
  return withCommon(new Command('keys'))
    .description("usage of a queue's limit keys: leased, cost in use, waiting, weight, concurrency, tokens, hold")
    .argument('<queue>')
    .option('--cursor <key>', 'start after this key (the "more:" line of the previous page)')
    .option('--limit <n>', 'keys per page (default 100, at most 1000)')
    .action(
      action(setCode, async (client, o, queue: string) => {
        const f = o as typeof o & { cursor?: string; limit?: string };
        const limit = intArg('--limit', f.limit, 1);
        const page = await client
          .queue(queue)
          .keys({ ...(f.cursor === undefined ? {} : { cursor: f.cursor }), ...(limit === undefined ? {} : { limit }) });
        print(o, page, () => {
          const rows = page.items.map((k) => [
            k.key === '' ? '(none)' : k.key,
            k.leased,
            k.inUse,
            k.waiting,
            k.weight,
            dash(k.concurrency),
            dash(k.tokens),
            k.heldUntilMono === null ? '-' : Math.max(0, k.heldUntilMono - page.asOf.mono),
          ]);
          const more = page.nextCursor === null ? '' : `more: --cursor ${page.nextCursor}\n`;
          const headers = ['KEY', 'LEASED', 'IN USE', 'WAITING', 'WEIGHT', 'CONCURRENCY', 'TOKENS', 'HELD MS'];
          return table(headers, rows) + more;
        });
      }),
    );
}
