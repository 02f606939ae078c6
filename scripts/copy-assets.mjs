// Build step: files the compiled code loads at run time, copied next to it in dist/.
import { copyFileSync, cpSync } from 'node:fs';

for (const f of ['client.proto', 'peer.proto']) copyFileSync(`src/protocol/${f}`, `dist/src/protocol/${f}`);
cpSync('src/node/console/static', 'dist/src/node/console/static', { recursive: true });
