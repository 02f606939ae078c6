// The peer port's listener: one TCP port for both the gRPC peer service (HTTP/2, with or without TLS)
// and the raw peer stream (peer-frames.ts). The first byte of a connection tells them apart: the raw
// stream opens with 'R', HTTP/2 with 'P' and TLS with 0x16; every connection that is not raw goes,
// byte for byte, to grpc-js through its connection injector.
import net from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { FRAME_MESSAGE, FrameReader, MagicReader, PEER_MAGIC, encodeAck, splitHostPort } from './peer-frames.js';
import { StreamAcks, type AckPolicy } from './peer-acks.js';

export interface RawPeerOptions extends AckPolicy {
  /** Off on TLS ports (the raw stream has no TLS) and where configured off: gRPC only. */
  enabled: boolean;
  /** One frame's bytes; beyond it the connection is closed. */
  frameBytesMax: number;
  keepaliveTimeMs: number;
  /** One message frame's MAC and msgpack bytes, in order; never throws out. */
  onMessage: (body: Uint8Array, mac: Uint8Array) => void;
  /** A raw connection broke the framing; it has been closed. */
  onMalformed: (reason: string) => void;
}

type Injector = ReturnType<grpc.Server['createConnectionInjector']>;

const RAW_FIRST_BYTE = PEER_MAGIC[0] as number;
/** 'P' of the HTTP/2 client preface ("PRI * HTTP/2.0") and a TLS handshake record. */
const HTTP2_FIRST_BYTE = 0x50;
const TLS_FIRST_BYTE = 0x16;

export class PeerPort {
  private readonly raws = new Set<net.Socket>();
  private readonly server = net.createServer({ noDelay: true });
  private boundPort = 0;

  private constructor(
    private readonly injector: Injector,
    private readonly raw: RawPeerOptions,
  ) {
    this.server.on('connection', (socket) => this.sniff(socket));
  }

  /** Listens on `address`; with `raw.enabled` false every connection goes to gRPC. */
  static async listen(address: string, injector: Injector, raw: RawPeerOptions): Promise<PeerPort> {
    const self = new PeerPort(injector, raw);
    const { host, port } = splitHostPort(address);
    self.boundPort = await new Promise<number>((resolve, reject) => {
      self.server.once('error', reject);
      self.server.listen({ host, port }, () => {
        self.server.off('error', reject);
        resolve((self.server.address() as net.AddressInfo).port);
      });
    });
    return self;
  }

  get port(): number {
    return this.boundPort;
  }

  private sniff(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    // A connection silent for a keepalive period holds a socket for nothing (a dialler gone, a path
    // black-holed behind a proxy): closing it also ends the proxy's side towards the dialler.
    socket.setTimeout(this.raw.keepaliveTimeMs, () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.setTimeout(0);
      if (first[0] === RAW_FIRST_BYTE && this.raw.enabled) return this.serveRaw(socket, first, this.raw);
      if (this.raw.enabled && first[0] !== HTTP2_FIRST_BYTE && first[0] !== TLS_FIRST_BYTE) {
        // Neither stream's opening: bytes lost on the way (a proxy dropped the start). Closing tells the
        // dialler to retry; grpc-js would answer HTTP/2 and the dialler would take this port for an old one.
        socket.destroy();
        return this.raw.onMalformed(`peer port: opening byte ${first[0]} is neither raw, HTTP/2 nor TLS`);
      }
      // Not raw, or raw where it is off: grpc-js answers as any release before the raw stream did
      // (HTTP/2 or TLS refuses the bytes), which tells the dialler to use gRPC.
      socket.pause();
      socket.unshift(first);
      this.injector.injectConnection(socket);
    });
  }

  /** One raw connection: magic, then message frames in, cumulative acknowledgements out. */
  private serveRaw(socket: net.Socket, first: Buffer, raw: RawPeerOptions): void {
    this.raws.add(socket);
    socket.setKeepAlive(true, raw.keepaliveTimeMs);
    const magic = new MagicReader();
    const frames = new FrameReader(raw.frameBytesMax);
    const acks = new StreamAcks(raw, (received) => socket.write(encodeAck(received)));
    let handshaken = false;
    const fail = (reason: string): void => {
      acks.stop();
      socket.destroy();
      raw.onMalformed(reason);
    };
    const read = (chunk: Buffer): void => {
      let rest = chunk;
      if (!handshaken) {
        const m = magic.push(chunk);
        if (m === 'more') return;
        if (m === 'bad') return fail('raw peer stream: bad opening bytes');
        handshaken = true;
        socket.write(PEER_MAGIC);
        rest = m;
      }
      const got = frames.push(rest);
      if (typeof got === 'string') return fail(`raw peer stream: ${got}`);
      for (const f of got) {
        if (socket.destroyed) return;
        if (f.kind !== FRAME_MESSAGE) return fail(`raw peer stream: frame kind ${f.kind}`);
        acks.received1(f.body.byteLength);
        raw.onMessage(f.body, f.mac);
      }
    };
    socket.on('data', read);
    socket.on('end', () => {
      acks.flush();
      acks.stop();
      socket.end();
    });
    socket.on('close', () => {
      acks.stop();
      this.raws.delete(socket);
    });
    read(first);
  }

  /**
   * Stops listening (the port is free at once) and closes the raw connections. The gRPC connections
   * close with the gRPC server: net.Server's own close callback would wait for them, so none is awaited.
   */
  close(): void {
    this.server.close();
    for (const s of this.raws) s.destroy();
    this.raws.clear();
  }
}
