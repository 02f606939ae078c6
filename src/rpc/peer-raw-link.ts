// The dialling side of one raw peer stream (peer-frames.ts): a TCP connection to the peer port that
// carries Raft message frames out and cumulative acknowledgements back. A peer whose port answers
// HTTP/2 instead of PEER_MAGIC (a release before the raw stream) is reported `unsupported`: the link
// then uses the gRPC Stream method instead. Any other answer is a broken connection, retried raw.
import net from 'node:net';
import {
  FRAME_ACK,
  FRAME_MESSAGE,
  FrameReader,
  MagicReader,
  PEER_MAGIC,
  decodeAck,
  encodeFrame,
  splitHostPort,
} from './peer-frames.js';
import { TurnCork } from '../protocol/frames.js';

export interface RawStreamEvents {
  /** The peer has taken `received` messages of this stream so far (cumulative). */
  acked: (received: number) => void;
  /** The stream is over (once). */
  ended: (err: Error, how: EndedHow) => void;
}

export interface EndedHow {
  /** The peer answered with PEER_MAGIC: the stream worked. */
  handshaken: boolean;
  /** The peer answered, but not with the raw stream (an older release): use gRPC. */
  unsupported: boolean;
  /** We ended it (cancel: a deadline or close), not the connection or the peer. */
  cancelled: boolean;
}

/** Acknowledgement frames are tiny; anything larger means the peer is not what we think. */
const ACK_FRAME_BYTES_MAX = 64;

export class RawStream {
  private readonly socket: net.Socket;
  private readonly magic = new MagicReader();
  private readonly frames = new FrameReader(ACK_FRAME_BYTES_MAX);
  private handshaken = false;
  private readonly cork: TurnCork;
  private done = false;

  constructor(
    address: string,
    keepaliveMs: number,
    private readonly events: RawStreamEvents,
  ) {
    const { host, port } = splitHostPort(address);
    this.socket = net.connect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: keepaliveMs });
    this.cork = new TurnCork(this.socket);
    this.socket.write(PEER_MAGIC);
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.on('error', (err) => this.end(err));
    this.socket.on('close', () => this.end(new Error('connection closed by the peer')));
  }

  /** Queues one message frame; the writes of one turn leave in one packet. */
  write(body: Uint8Array, mac?: Uint8Array): void {
    if (this.done) return;
    this.cork.hold();
    this.socket.write(encodeFrame(FRAME_MESSAGE, body, mac));
  }

  cancel(): void {
    this.end(new Error('stream cancelled'), false, true);
  }

  private read(chunk: Buffer): void {
    if (this.done) return;
    let rest: Buffer = chunk;
    if (!this.handshaken) {
      const m = this.magic.push(chunk);
      if (m === 'more') return;
      if (m === 'bad') {
        const h2 = this.magic.http2();
        if (h2 === 'more') return;
        if (h2) return this.end(new Error('the peer port does not speak the raw peer stream'), true);
        return this.end(new Error('peer stream: the answer lost its opening bytes'));
      }
      this.handshaken = true;
      rest = m;
    }
    const frames = this.frames.push(rest);
    if (typeof frames === 'string') return this.end(new Error(`peer stream: ${frames}`));
    for (const f of frames) {
      const n = f.kind === FRAME_ACK ? decodeAck(f.body) : null;
      if (n === null) return this.end(new Error('peer stream: not an acknowledgement frame'));
      this.events.acked(n);
      if (this.done) return;
    }
  }

  private end(err: Error, unsupported = false, cancelled = false): void {
    if (this.done) return;
    this.done = true;
    this.socket.destroy();
    this.events.ended(err, { handshaken: this.handshaken, unsupported, cancelled });
  }
}
