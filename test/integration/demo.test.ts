// The README's first command, shortened: a real 3-node cluster, producers and workers, a leader
// SIGKILL and restart, and the checker's verdict.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/node/demo.js';

describe('raftq demo', () => {
  it('survives a leader kill with nothing lost and nothing completed twice', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const code = await runDemo({ seconds: 8, out });
    expect(text).toMatch(/>>> SIGKILL the leader n\d/);
    expect(text).toMatch(/>>> new leader n\d/);
    expect(text).toMatch(/lost {17}0 {2}\(must be 0\)/);
    expect(text).toMatch(/completed twice {6}0 {2}\(must be 0\)/);
    expect(code, text).toBe(0);
    // From the kill to the first success the dead leader cannot have served: no new leader exists
    // before a follower's election timeout (500 ms by default) less one heartbeat (50 ms) has passed.
    const failover = Number(/failover time +(\d+) ms/.exec(text)?.[1]);
    expect(failover, text).toBeGreaterThanOrEqual(450);
  });

  it('runs with TLS and client tokens on (raftq demo --tls --auth)', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const code = await runDemo({ seconds: 8, out, tls: true, auth: true });
    expect(text).toMatch(/TLS and tokens on/);
    expect(text).toMatch(/http https:\/\/127\.0\.0\.1:\d+/);
    expect(text).toMatch(/lost {17}0 {2}\(must be 0\)/);
    expect(code, text).toBe(0);
  });
});
