// `raftq members replace OLD NEW` against a scripted admin endpoint (no cluster): NEW started with
// --join may join (and even be promoted) between replace's look at the membership and its own add /
// promote. Found by test/integration/members.test.ts with a slower load: replace failed with
// "ID_EXISTS: n4 is already a member". Those refusals only say NEW got there by itself; any other
// refusal still ends the command before OLD is removed.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/node/cli.js';
import { cliOutput } from '../../../src/node/cli-common.js';

type Answer = [number, Record<string, unknown>];
const members = [
  { id: 'n1', role: 'voter', address: '127.0.0.1:1' },
  { id: 'n2', role: 'voter', address: '127.0.0.1:2' },
  { id: 'n3', role: 'voter', address: '127.0.0.1:3' },
];
const ok = (): Answer => [200, { ok: true, index: 9, members }];
const refused = (code: string): Answer => [409, { ok: false, code, message: `refused: ${code}` }];

let server: Server | null = null;
afterEach(async () => {
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = null;
});

/** Serves the routes from `script`; returns the admin address and the calls it received. */
async function admin(script: Record<string, Answer>): Promise<{ address: string; calls: string[] }> {
  const calls: string[] = [];
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const route = `${req.method ?? ''} ${req.url ?? ''}`;
      calls.push(route);
      const [status, body] = script[route] ?? [404, { ok: false, code: 'HTTP_404' }];
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { address: `127.0.0.1:${(server!.address() as AddressInfo).port}`, calls };
}

async function replace(address: string): Promise<{ code: number; out: string; err: string }> {
  const saved = { ...cliOutput };
  let out = '';
  let err = '';
  cliOutput.out = (s) => void (out += s);
  cliOutput.err = (s) => void (err += s);
  try {
    const args = ['members', 'replace', 'n3', 'n4', '--address', '127.0.0.1:4', '--peer-address', '127.0.0.1:5'];
    const code = await main(['node', 'raftq', ...args, '--admin', address, '--timeout-ms', '3000']);
    return { code, out, err };
  } finally {
    Object.assign(cliOutput, saved);
  }
}

const list = { 'POST /admin/members': [200, { id: 'n1', leader: 'n1', members }] as Answer };

describe('raftq members replace', () => {
  it('goes on when NEW joined between the look and the add (ID_EXISTS), then promotes and removes OLD', async () => {
    const a = await admin({
      ...list,
      'POST /admin/members/add': refused('ID_EXISTS'),
      'POST /admin/members/promote': ok(),
      'POST /admin/members/remove': ok(),
    });
    const r = await replace(a.address);
    expect([r.code, r.err]).toEqual([0, '']);
    expect(r.out).toContain('n3 replaced by n4');
    expect(a.calls).toEqual([
      'POST /admin/members',
      'POST /admin/members/add',
      'POST /admin/members/promote',
      'POST /admin/members/remove',
    ]);
  });

  it('goes on when NEW was promoted by its own --join meanwhile (NOT_A_LEARNER)', async () => {
    const a = await admin({
      ...list,
      'POST /admin/members/add': refused('ID_EXISTS'),
      'POST /admin/members/promote': refused('NOT_A_LEARNER'),
      'POST /admin/members/remove': ok(),
    });
    const r = await replace(a.address);
    expect([r.code, r.err]).toEqual([0, '']);
    expect(a.calls.at(-1)).toBe('POST /admin/members/remove');
  });

  it('stops on any other refusal of the add, and never removes OLD then', async () => {
    const a = await admin({
      ...list,
      'POST /admin/members/add': refused('NO_QUORUM'),
      'POST /admin/members/remove': ok(),
    });
    const r = await replace(a.address);
    expect([r.code, r.err]).toEqual([1, 'raftq: NO_QUORUM: refused: NO_QUORUM\n']);
    expect(a.calls).toEqual(['POST /admin/members', 'POST /admin/members/add']);
  });
});
