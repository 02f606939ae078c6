// Pins what the hot path (enqueue, lease, ack and their neighbours, in and out of sessions) gives
// for a fixed, seeded command stream: every entry's answers, events and digest, and the final
// snapshot bytes. The expected values were computed on the code before the CPU work of issue 11,
// so any change to results, digests or snapshot bytes from a refactor of the hot path fails here.
// The snapshot pins changed once, on purpose (session 23): task chunks hold 256 tasks instead of 1,024
// (the same rows, cut into more chunks; with 1,024 the bytes were still the old pins').
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Command, CommandAnswer, LeasedTask, SessionCommand, TaskSpec } from '../../../src/protocol/index.js';
import { Driver } from './harness.js';

/** A small deterministic generator (a 32-bit LCG): the stream must not depend on fast-check's. */
class Rand {
  constructor(private s: number) {}
  next(): number {
    this.s = (Math.imul(this.s, 1664525) + 1013904223) >>> 0;
    return this.s / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Test hook: sees every entry's answers (the coverage check below). */
let tally: ((out: CommandAnswer[]) => void) | undefined;

interface Held {
  id: string;
  token: string;
  secret?: string;
}

function spec(r: Rand, n: number): TaskSpec {
  const payload = new Uint8Array(1 + r.int(40)).map((_, i) => (n * 7 + i) & 0xff);
  const s: TaskSpec = { payload };
  if (r.chance(0.3)) s.headers = { kind: `k${r.int(3)}`, n: String(n) };
  if (r.chance(0.3)) s.priority = r.int(5);
  if (r.chance(0.15)) s.idempotencyKey = `idem-${r.int(20)}`;
  else if (r.chance(0.1)) s.group = `g${r.int(3)}`;
  if (r.chance(0.15)) s.key = `tenant-${r.int(4)}`;
  if (r.chance(0.1)) s.delayMs = 50 + r.int(400);
  if (r.chance(0.1)) s.leaseMs = 300 + r.int(1000);
  if (r.chance(0.05)) s.maxAttempts = 2;
  return s;
}

/** Hex for bytes (answers carry payloads, results, checkpoints), so JSON is canonical. */
function json(v: unknown): string {
  return JSON.stringify(v, function (this: Record<string, unknown>, k: string, x: unknown) {
    const raw = this[k];
    return raw instanceof Uint8Array ? Buffer.from(raw).toString('hex') : x;
  });
}

function run(seed: number, entries: number, dtMax: number): { log: string; digest: string; snapshot: string } {
  const r = new Rand(seed);
  const d = new Driver({ events: true });
  const log = createHash('sha256');
  const record = (out: unknown): void => {
    log.update(json(out));
    log.update(json(d.sm.drainEvents()));
    log.update(d.sm.digest());
  };
  record(d.entry([{ type: 'createQueue', queue: 'a', settings: { retentionMs: 2000 } }]));
  record(d.entry([{ type: 'createQueue', queue: 'b', settings: { maxAttempts: 3, retentionMs: 0 } }]));
  const sessions: { id: string; seq: number; sent: SessionCommand[] }[] = [];
  for (let i = 0; i < 2; i++) {
    const out = d.entry([{ type: 'openSession', timeoutMs: 60_000 }]);
    record(out);
    const a = out[0]?.answer;
    if (a?.ok !== true) throw new Error('openSession failed');
    sessions.push({ id: (a.value as { session: string }).session, seq: 0, sent: [] });
  }
  const held: Held[] = [];
  let n = 0;
  const wrap = (cmd: Command, always = false): Command | SessionCommand => {
    if (!always && !r.chance(0.5)) return cmd;
    const s = sessions[r.int(sessions.length)] as (typeof sessions)[number];
    s.seq++;
    const sc: SessionCommand = { session: s.id, seq: s.seq, cmd };
    if (r.chance(0.3)) sc.floor = Math.max(1, s.seq - r.int(4));
    s.sent.push(sc);
    if (s.sent.length > 6) s.sent.shift();
    return sc;
  };
  const take = (): Held | undefined => (held.length === 0 ? undefined : held.splice(r.int(held.length), 1)[0]);
  for (let e = 0; e < entries; e++) {
    d.term = 1 + Math.floor(e / 200);
    const cmds: (Command | SessionCommand)[] = [];
    const k = 1 + r.int(3);
    for (let c = 0; c < k; c++) {
      const queue = r.chance(0.7) ? 'a' : 'b';
      const x = r.int(100);
      if (x < 30) {
        cmds.push(wrap({ type: 'enqueue', queue, tasks: Array.from({ length: 1 + r.int(4) }, () => spec(r, n++)) }));
      } else if (x < 50) {
        const cmd: Command = { type: 'lease', queue, workerId: `w${r.int(3)}`, max: 1 + r.int(4) };
        if (r.chance(0.5)) cmd.leaseMs = 200 + r.int(1500);
        if (r.chance(0.5)) cmd.secret = `secret-of-lease-${r.int(1000)}`;
        cmds.push(wrap(cmd));
      } else if (x < 72) {
        const items = [];
        for (let i = 1 + r.int(3); i > 0; i--) {
          const h = take();
          if (h === undefined) break;
          const secret = r.chance(0.05) ? 'wrong-secret-0000' : h.secret;
          items.push({
            id: h.id,
            token: h.token,
            ...(secret === undefined ? {} : { secret }),
            ...(r.chance(0.3) ? { result: new Uint8Array([n & 0xff, 1, 2]) } : {}),
          });
          if (r.chance(0.1)) held.push(h); // acked again later: the stored answer, or LEASE_LOST
        }
        if (items.length > 0) cmds.push(wrap({ type: 'ack', items }));
      } else if (x < 80) {
        const h = take();
        if (h !== undefined) {
          const cmd: Command = { type: 'nack', id: h.id, token: h.token, error: `boom ${r.int(9)}` };
          if (h.secret !== undefined) cmd.secret = h.secret;
          if (r.chance(0.1)) cmd.dead = true;
          else if (r.chance(0.5)) cmd.delayMs = r.int(300);
          cmds.push(wrap(cmd));
        }
      } else if (x < 87) {
        const h = held[r.int(held.length)];
        if (h !== undefined) {
          const cmd: Command = { type: 'extend', id: h.id, token: h.token, leaseMs: 500 + r.int(1000) };
          if (h.secret !== undefined) cmd.secret = h.secret;
          if (r.chance(0.5)) cmd.progress = r.int(100);
          if (r.chance(0.3)) cmd.checkpoint = new Uint8Array([1, 2, 3, r.int(256)]);
          cmds.push(wrap(cmd));
        }
      } else if (x < 92) {
        const h = take();
        if (h !== undefined) {
          const cmd: Command = { type: 'release', id: h.id, token: h.token };
          if (h.secret !== undefined) cmd.secret = h.secret;
          cmds.push(wrap(cmd));
        }
      } else if (x < 97) {
        // A client retry: the same session command again (cached answer, or below the floor).
        const sent = sessions[r.int(sessions.length)]?.sent ?? [];
        const again = sent[r.int(sent.length)];
        if (again !== undefined) cmds.push(again);
      } else {
        cmds.push(wrap({ type: 'keepAlive' }, true));
      }
    }
    const out = d.entry(cmds, r.int(dtMax));
    tally?.(out);
    for (const ca of out) {
      const v = ca.answer.ok ? (ca.answer.value as { tasks?: LeasedTask[] } | null) : null;
      for (const t of v?.tasks ?? [])
        held.push({ id: t.id, token: t.token, ...(t.secret ? { secret: t.secret } : {}) });
    }
    record(out);
  }
  const snap = createHash('sha256');
  for (const chunk of d.sm.snapshot()) snap.update(chunk);
  return { log: log.digest('hex'), digest: d.sm.digest(), snapshot: snap.digest('hex') };
}

describe('hot path pin (issue 11)', () => {
  it('a fixed stream of enqueue / lease / ack / nack / extend / release gives the same bytes as before', () => {
    expect(run(11, 1500, 250)).toEqual({
      log: '9392a43837063c8909858da2cf4c0af6bb88d5a2837cb03c0af45a8c0f9b5b55',
      digest: '6ee465b9be9907bd',
      snapshot: 'fc13037716eee6995c28cda86ddfca99a7227f4528f49d2f4ccb203a057bb649',
    });
  });

  it('a second seed, longer, with more expiries and retention', () => {
    expect(run(2026, 3000, 1200)).toEqual({
      log: 'e850c70820df4647b8af66ffe5a478325af78577bff76ee396ebc4027ab7ab58',
      digest: '3694e19ca21850fe',
      snapshot: 'b56a495f8196089458762edcc3782ff44153be3143f5be964d3fc9b29454d053',
    });
  });
});

describe('hot path pin coverage', () => {
  it('the streams reach the paths they pin: grants, acks, stored answers, expiries, refusals', () => {
    const seen = new Map<string, number>();
    tally = (out) => {
      for (const ca of out) {
        const key = ca.answer.ok ? `ok${ca.session === null ? '' : '+session'}` : ca.answer.error.code;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        const items = ca.answer.ok
          ? (ca.answer.value as { items?: { ok?: boolean; error?: { code: string } }[] }).items
          : undefined;
        for (const it of items ?? [])
          if (it.ok === false) seen.set(`item ${it.error?.code}`, (seen.get(`item ${it.error?.code}`) ?? 0) + 1);
      }
    };
    try {
      run(2026, 3000, 1200);
    } finally {
      tally = undefined;
    }
    for (const k of [
      'ok',
      'ok+session',
      'LEASE_LOST',
      'item LEASE_LOST',
      'item PERMISSION_DENIED',
      'FAILED_PRECONDITION',
    ])
      expect(seen.get(k) ?? 0, `${k} in ${JSON.stringify([...seen])}`).toBeGreaterThan(10);
  });
});
