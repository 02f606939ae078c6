import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ephemeralPortStart, freePorts } from '../../../src/node/free-ports.js';

const open: Server[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => new Promise<void>((ok) => s.close(() => ok()))));
});

function bind(port: number): Promise<Server> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => ok(s));
  });
}

describe('freePorts', () => {
  it('picks distinct, bindable ports below the ephemeral range, where no outgoing connection lands', async () => {
    const ports = await freePorts(12, '127.0.0.1', 32_768);
    expect(new Set(ports).size).toBe(12);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(16_384);
      expect(p).toBeLessThan(32_768);
      open.push(await bind(p)); // free after the call returns
    }
  });

  it('falls back to the kernel choice when the range is unknown or too narrow', async () => {
    for (const start of [null, 16_500]) {
      const ports = await freePorts(3, '127.0.0.1', start);
      expect(new Set(ports).size).toBe(3);
      for (const p of ports) open.push(await bind(p));
    }
  });

  it('reads the range start from the kernel file, and null when it is missing or malformed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftq-ports-'));
    const f = join(dir, 'range');
    writeFileSync(f, '32768\t60999\n');
    expect(ephemeralPortStart(f)).toBe(32_768);
    writeFileSync(f, 'garbage\n');
    expect(ephemeralPortStart(f)).toBeNull();
    expect(ephemeralPortStart(join(dir, 'absent'))).toBeNull();
  });
});
