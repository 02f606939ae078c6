// End-to-end payload encryption on a real node (issue #14): a worker with the key gets the payload; a
// worker without it dead-letters the task at once as undecryptable; and no file of the node's data
// directory holds the plaintext (while a payload sent without encryption is found there: the scan
// can see plaintext when there is some).
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, encryptedCodec } from '../../src/index.js';
import { startCluster, waitFor, waitForLeader, type TestCluster } from './helpers.js';

let tc: TestCluster;
const open: Client[] = [];
const key = randomBytes(32);
const secret = randomBytes(24).toString('hex');
const control = randomBytes(24).toString('hex');

function client(encrypted: boolean): Client {
  const c = new Client({
    servers: tc.cluster.servers,
    timeoutMs: 10_000,
    ...(encrypted ? { codec: encryptedCodec({ keys: { k1: key }, current: 'k1' }) } : {}),
  });
  open.push(c);
  return c;
}

function files(d: string): string[] {
  return readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? files(join(d, f)) : [join(d, f)]));
}

beforeAll(async () => {
  tc = await startCluster(1, { logLevel: 'warn' });
  await waitForLeader(tc.cluster);
}, 60_000);

afterAll(async () => {
  for (const c of open) await c.close({ timeoutMs: 2_000 }).catch(() => undefined);
  await tc?.cleanup();
});

describe('payload encryption end to end', () => {
  it('the key holder reads it, a worker without the key dead-letters it, the broker stores no plaintext', async () => {
    const sealed = client(true);
    const plain = client(false);
    const q = sealed.queue<{ m: string }>('enc.q');
    await q.create();
    const { id } = await q.enqueue({ m: secret });
    await plain.queue('plain.q').create();
    await plain.queue('plain.q').enqueue({ m: control });

    const got: string[] = [];
    const w = sealed.worker<{ m: string }>('enc.q', (t) => {
      got.push(t.payload.m);
      return { echoed: t.payload.m };
    });
    const done = await waitFor(
      async () => {
        const t = await q.get(id);
        return t.state === 'completed' ? t : undefined;
      },
      20_000,
      'completed by the key holder',
    );
    await w.close({ timeoutMs: 2_000 });
    expect(got).toEqual([secret]);
    expect(done.result).toEqual({ echoed: secret });

    const nokey = sealed.queue<{ m: string }>('enc.nokey');
    await nokey.create();
    const second = await nokey.enqueue({ m: secret });
    const blind = plain.worker('enc.nokey', () => undefined);
    const dead = await waitFor(
      async () => {
        const t = await nokey.get(second.id);
        return t.state === 'dead' ? t : undefined;
      },
      20_000,
      'dead-lettered without the key',
    );
    await blind.close({ timeoutMs: 2_000 });
    expect(String(dead.lastError)).toMatch(
      /undecryptable: the payload is encrypted and this client has no encryption keys/,
    );

    const all = files(tc.dir);
    expect(all.some((f) => readFileSync(f).includes(control))).toBe(true);
    for (const f of all) expect(readFileSync(f).includes(secret), f).toBe(false);
  }, 60_000);
});
