// Payload limits (issue 17): the limit applies to the encoded payload before compression, and the
// decoder never inflates beyond it, so a small gzip bomb is refused at enqueue and never reaches a
// worker's handler.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, InvalidArgumentError } from '../../../src/client/index.js';
import { decodePayload, msgpackCodec } from '../../../src/client/codec.js';
import { ClientServer } from '../../../src/rpc/client-server.js';
import { MachineExecutor } from './machine-executor.js';

const MiB = 1 << 20;
let server: ClientServer;

beforeAll(async () => {
  server = await ClientServer.start({ address: '127.0.0.1:0', executor: new MachineExecutor() });
});
afterAll(async () => {
  await server.close();
});

describe('payload size limit', () => {
  it('applies to the encoded payload before compression', async () => {
    const c = new Client({ servers: [server.address] });
    // 2 MiB of zeros gzip to a few KiB: the compressed size alone would pass.
    const err = await c
      .queue('limits')
      .enqueue(new Uint8Array(2 * MiB))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).field).toBe('payload');
    expect((err as InvalidArgumentError).message).toMatch(/2097152 bytes encoded exceeds 1048576/);
    // Just under the limit still goes, compressed.
    const ok = await c.queue('limits').enqueue(new Uint8Array(MiB - 16));
    expect(ok.id).toMatch(/^\d+$/);
    await c.close();
  });

  it('the decoder refuses to inflate beyond the limit', () => {
    const bomb = new Uint8Array(gzipSync(new Uint8Array(64 * MiB)));
    expect(bomb.byteLength).toBeLessThan(MiB);
    const headers = { 'raftq-codec': 'raw', 'raftq-compression': 'gzip' };
    expect(() => decodePayload(bomb, headers, msgpackCodec)).toThrow(/inflates beyond 1048576 bytes/);
    const small = new Uint8Array(gzipSync(Buffer.from('hello')));
    expect(Buffer.from(decodePayload(small, headers, msgpackCodec) as Uint8Array).toString()).toBe('hello');
  });

  it('a gzip bomb from another producer never reaches a handler: it is dead-lettered', async () => {
    const c = new Client({ servers: [server.address] });
    const bomb = new Uint8Array(gzipSync(new Uint8Array(16 * MiB)));
    const { reply } = await c.command({
      type: 'enqueue',
      queue: 'bombs',
      tasks: [{ payload: bomb, headers: { 'raftq-codec': 'raw', 'raftq-compression': 'gzip' } }],
    });
    const id = String((reply['items'] as Array<{ id: string }>)[0]?.id);
    let handled = 0;
    const failed = new Promise<unknown>((resolve) => {
      const w = c.worker('bombs', () => void (handled += 1));
      w.on('failed', (_t: unknown, e: unknown) => resolve(e));
    });
    expect(String(await failed)).toMatch(/undecodable payload: gzip payload inflates beyond/);
    expect(handled).toBe(0);
    expect((await c.queue('bombs').get(id)).state).toBe('dead');
    await c.close();
  });
});
