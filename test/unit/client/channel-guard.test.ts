// The channel guard (src/client/channel-guard.ts): a channel whose connection was accepted into a black
// hole is reported stuck; a channel that reached READY is not, however long its calls take.
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { guardConnecting } from '../../../src/client/channel-guard.js';
import { waitFor } from '../rpc/helpers.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

const GUARD_MS = 300;
const identity = (b: Buffer): Buffer => b;

function unary(client: grpc.Client, deadlineMs: number): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/t.T/Wait',
      identity,
      identity,
      Buffer.from('x'),
      { deadline: Date.now() + deadlineMs },
      (err) => resolve(err ?? null),
    );
  });
}

function guarded(address: string): { client: grpc.Client; stuck: number[]; start: number } {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  cleanup.push(() => client.close());
  const start = Date.now();
  const stuck: number[] = [];
  const stop = guardConnecting(client, GUARD_MS, () => stuck.push(Date.now() - start));
  cleanup.push(stop);
  return { client, stuck, start };
}

describe('client - the channel guard', () => {
  it('reports a channel whose server accepted TCP but never answered HTTP/2', async () => {
    const sockets: net.Socket[] = [];
    const hole = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => {
      for (const s of sockets) s.destroy();
      hole.close();
    });
    const { client, stuck } = guarded(`127.0.0.1:${(hole.address() as net.AddressInfo).port}`);
    const err = await unary(client, 3 * GUARD_MS);
    expect(err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await waitFor(() => stuck.length === 1, 'the guard to report the channel stuck');
    expect(sockets.length).toBe(1);
    expect(stuck[0]).toBeGreaterThanOrEqual(GUARD_MS);
    expect(client.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.CONNECTING);
  });

  it('leaves a READY channel alone while a call outlasts the guard', async () => {
    const server = new grpc.Server();
    server.register(
      '/t.T/Wait',
      (_call: unknown, reply: grpc.sendUnaryData<Buffer>) => {
        setTimeout(() => reply(null, Buffer.from('done')), 3 * GUARD_MS);
      },
      identity,
      identity,
      'unary',
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    cleanup.push(() => void server.forceShutdown());
    const { client, stuck, start } = guarded(`127.0.0.1:${port}`);
    expect(await unary(client, 10_000)).toBeNull();
    expect(Date.now() - start).toBeGreaterThanOrEqual(3 * GUARD_MS);
    expect(client.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
    expect(stuck).toEqual([]);
  });
});
