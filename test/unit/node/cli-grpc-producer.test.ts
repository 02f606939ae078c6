// A producer in another language (issue 17): it has only the .proto, loads it with
// @grpc/proto-loader and enqueues JSON bytes — with the documented `raftq-codec: raw` header, and
// without any header. Both are worked by an SDK worker (as raw bytes, never dead-lettered as
// undecodable) and by `raftq worker --exec` (the bytes on stdin), and `tasks get` shows them.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import type { ClientServer } from '../../../src/rpc/client-server.js';
import { latch, runCli, startServer } from './cli-harness.js';

let server: ClientServer;
let dir = '';
type Unary = (
  req: unknown,
  cb: (err: grpc.ServiceError | null, reply: { items: Array<{ id: string }> }) => void,
) => void;
let stub: grpc.Client & { Enqueue: Unary };

beforeAll(async () => {
  ({ server } = await startServer());
  dir = mkdtempSync(join(tmpdir(), 'raftq-foreign-'));
  // The .proto alone, with proto-loader's plain options: what a user of another stack would do.
  const def = protoLoader.loadSync(new URL('../../../src/protocol/client.proto', import.meta.url).pathname, {});
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    raftq: { client: { v1: { RaftQ: new (a: string, c: grpc.ChannelCredentials) => typeof stub } } };
  };
  stub = new pkg.raftq.client.v1.RaftQ(server.address, grpc.credentials.createInsecure());
});
afterAll(async () => {
  stub.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function enqueue(queue: string, json: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) =>
    stub.Enqueue({ queue, tasks: [{ payload: Buffer.from(json), headers }] }, (err, reply) =>
      err ? reject(err) : resolve(reply.items[0]?.id ?? ''),
    ),
  );
}

describe('a producer with only the .proto', () => {
  it('enqueues JSON bytes that the SDK worker receives as raw bytes, with or without the header', async () => {
    const withHeader = await enqueue('foreign-sdk', '{"to":"a@example.org"}', { 'raftq-codec': 'raw' });
    const bare = await enqueue('foreign-sdk', '{"to":"b@example.org"}', {});
    const client = new Client({ servers: [server.address] });
    const got = new Map<string, string>();
    const done = latch();
    const worker = client.worker<Uint8Array>('foreign-sdk', (task) => {
      expect(task.payload).toBeInstanceOf(Uint8Array);
      got.set(task.id, Buffer.from(task.payload).toString());
      if (got.size === 2) done.open();
    });
    await done.promise;
    await worker.close();
    expect(got.get(withHeader)).toBe('{"to":"a@example.org"}');
    expect(got.get(bare)).toBe('{"to":"b@example.org"}');
    for (const id of [withHeader, bare]) expect((await client.queue('_').get(id)).state).toBe('completed');
    await client.close();
  });

  it('is worked by raftq worker --exec (bytes on stdin) and shown as JSON by tasks get', async () => {
    const id = await enqueue('foreign-cli', '{"n":42}', {});
    const S = ['--servers', server.address];
    const shown = await runCli(['tasks', 'get', id, '--json', ...S]);
    expect((JSON.parse(shown.out) as { payload: unknown }).payload).toEqual({ n: 42 });
    const out = join(dir, 'stdin.txt');
    const stop = latch();
    const w = await runCli(['worker', 'foreign-cli', '--exec', `cat > ${out}`, '--json', ...S], stop.promise, (o) => {
      if (o.includes('"event"')) stop.open();
    });
    expect(w.out).toContain('"completed"');
    expect(readFileSync(out, 'utf8')).toBe('{"n":42}');
  });
});
