// The raw Submit lane as a fuzz surface (src/protocol/submit-lane.ts): the magic, then garbage, a
// garbled hello, or a hello and a mutated request, on a plaintext client port. The outcome is the
// node's END code, `reply` (a request was answered), `closed`, or `open` (nothing within the wait).
import net from 'node:net';
import { isErrorCode, type ErrorDetail } from '../../src/protocol/errors.js';
import { FrameReader, MagicReader, encodeFrame, splitHostPort } from '../../src/protocol/frames.js';
import {
  LANE_END,
  LANE_HELLO,
  LANE_MESSAGE,
  SUBMIT_MAGIC,
  decodeEnd,
  encodeHello,
} from '../../src/protocol/submit-lane.js';

/** What the fuzzer's generator offers (fuzz.ts Gen). */
interface Gen {
  int(n: number): number;
  bytes(max: number): Buffer;
  mutate(src: Buffer): Buffer;
}

/** One lane input: garbage frames, a garbled hello, or a hello and a mutated (or garbled) request. */
export function laneInput(g: Gen, request: Buffer): Buffer {
  const hello = encodeFrame(LANE_HELLO, encodeHello({}));
  switch (g.int(4)) {
    case 0:
      return Buffer.concat([SUBMIT_MAGIC, g.bytes(200)]);
    case 1:
      return Buffer.concat([SUBMIT_MAGIC, encodeFrame(LANE_HELLO, g.mutate(encodeHello({ forward: true })))]);
    case 2:
      return Buffer.concat([SUBMIT_MAGIC, hello, encodeFrame(LANE_MESSAGE, g.mutate(request))]);
    default:
      return Buffer.concat([SUBMIT_MAGIC, hello, g.mutate(encodeFrame(LANE_MESSAGE, request))]);
  }
}

/** Sends `bytes` on a fresh lane and resolves with the outcome (a typed END code, reply, closed, open). */
export async function laneCall(address: string, bytes: Buffer, waitMs = 1_000): Promise<string> {
  return (await laneAnswer(address, bytes, waitMs)).outcome;
}

/** laneCall's outcome, with the END's detail when the node sent one. */
export function laneAnswer(
  address: string,
  bytes: Buffer,
  waitMs = 1_000,
): Promise<{ outcome: string; end?: ErrorDetail }> {
  const { host, port } = splitHostPort(address);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port }, () => socket.write(bytes));
    const magic = new MagicReader(SUBMIT_MAGIC);
    const frames = new FrameReader(64 * 1024 * 1024);
    let open = false;
    const done = (outcome: string, end?: ErrorDetail): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(end === undefined ? { outcome } : { outcome, end });
    };
    const timer = setTimeout(() => done('open'), waitMs);
    socket.on('data', (chunk: Buffer) => {
      let rest = chunk;
      if (!open) {
        const m = magic.push(chunk);
        if (m === 'more') return;
        if (m === 'bad') return done('bad-magic');
        open = true;
        rest = m;
      }
      const got = frames.push(rest);
      if (typeof got === 'string') return done(`bad-frame: ${got}`);
      for (const f of got) {
        if (f.kind === LANE_MESSAGE) return done('reply');
        if (f.kind !== LANE_END) continue;
        const detail = decodeEnd(f.body);
        if (detail === null) return done('end');
        return detail !== undefined && isErrorCode(detail.code) ? done(detail.code, detail) : done('bad-end');
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => done('closed'));
  });
}

/** Outcomes that mean the node handled the input (anything else is a failure). */
export function laneOutcomeOk(outcome: string): boolean {
  return ['end', 'reply', 'closed', 'open'].includes(outcome) || (isErrorCode(outcome) && outcome !== 'INTERNAL');
}
