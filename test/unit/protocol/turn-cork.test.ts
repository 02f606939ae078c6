// TurnCork (src/protocol/frames.ts): the frames a turn writes, its microtasks' included, reach the
// socket in one write and arrive whole and in order; writes of a later turn go out on their own.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameReader, TurnCork, encodeFrame } from '../../../src/protocol/frames.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const close of cleanup.splice(0)) close();
});

interface Pair {
  sender: net.Socket;
  /** Calls that handed bytes to the kernel side of the socket (one `_write` or one `_writev`). */
  writes: () => number;
  /** Resolves with the bodies of the first `n` frames received, as text. */
  received: (n: number) => Promise<string[]>;
}

async function loopbackPair(): Promise<Pair> {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const sender = net.connect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise<void>((resolve) => sender.once('connect', resolve));
  const receiver = await accepted;
  cleanup.push(() => {
    sender.destroy();
    receiver.destroy();
    server.close();
  });
  let writes = 0;
  const s = sender as unknown as Record<'_write' | '_writev', (...a: unknown[]) => void>;
  for (const key of ['_write', '_writev'] as const) {
    const inner = s[key].bind(sender);
    s[key] = (...a: unknown[]) => {
      writes += 1;
      inner(...a);
    };
  }
  const frames = new FrameReader(1024);
  const bodies: string[] = [];
  const waiters: (() => void)[] = [];
  receiver.on('data', (chunk: Buffer) => {
    const got = frames.push(chunk);
    if (typeof got === 'string') throw new Error(got);
    for (const f of got) bodies.push(Buffer.from(f.body).toString());
    for (const w of waiters.splice(0)) w();
  });
  const received = async (n: number): Promise<string[]> => {
    while (bodies.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    return bodies.slice(0, n);
  };
  return { sender, writes: () => writes, received };
}

describe('TurnCork', () => {
  it('sends the frames of one turn and its microtasks in one write, in order', async () => {
    const { sender, writes, received } = await loopbackPair();
    const cork = new TurnCork(sender);
    const send = (text: string): void => {
      cork.hold();
      sender.write(encodeFrame(1, Buffer.from(text)));
    };
    const expected: string[] = [];
    for (let i = 0; i < 5; i++) {
      expected.push(`sync ${i}`);
      send(`sync ${i}`);
    }
    // Answers resolved in the same turn's microtasks, as an applied entry's are.
    for (let i = 0; i < 5; i++) {
      expected.push(`micro ${i}`);
      void Promise.resolve().then(() => Promise.resolve().then(() => send(`micro ${i}`)));
    }
    expect(await received(10)).toEqual(expected);
    expect(writes()).toBe(1);

    // A later turn corks anew: its frames follow in a write of their own.
    await new Promise<void>((resolve) => setImmediate(resolve));
    send('later 0');
    send('later 1');
    expect((await received(12)).slice(10)).toEqual(['later 0', 'later 1']);
    expect(writes()).toBe(2);
  });

  it('lets end() flush what the turn held', async () => {
    const { sender, received } = await loopbackPair();
    const cork = new TurnCork(sender);
    cork.hold();
    sender.write(encodeFrame(1, Buffer.from('last words')));
    sender.end();
    expect(await received(1)).toEqual(['last words']);
  });
});
