// The answering side of `npm run bench -- transport` (bench/transport.ts), in a process of its own:
// a PeerServer that answers every Append with an AppendResp over a PeerTransport of the given kind.
// Built code (dist/), which `npm run bench` compiles first.
import { PeerServer } from '../dist/src/rpc/peer-server.js';
import { PeerTransport } from '../dist/src/rpc/peer-transport.js';

const kind = process.argv[2];
let out = null;
let mark = null;
const server = await PeerServer.start({
  address: '127.0.0.1:0',
  selfId: 'n2',
  onMessage: (m) =>
    out?.send([
      { type: 'AppendResp', group: 0, term: m.term, from: 'n2', fromStorage: 's2', to: 'n1', index: m.index + 1 },
    ]),
});
process.send({ port: server.port });
process.on('message', (msg) => {
  if (msg.peer)
    out = new PeerTransport({ selfId: 'n2', peers: new Map([['n1', msg.peer]]), rawStreams: kind === 'raw' });
  if (msg.mark) mark = process.cpuUsage();
  if (msg.done) {
    const cpu = process.cpuUsage(mark ?? undefined);
    process.send({ cpuUs: cpu.user + cpu.system }, () => {
      out?.close();
      void server.close(0).then(() => process.exit(0));
    });
  }
});
