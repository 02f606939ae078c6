// The client subcommands against an in-process client service (real gRPC on loopback, real state
// machine): output shapes, exit codes, and `worker --exec` acking and nacking by exit status.
import { Command, CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliOutput, clientCommands, runChild } from '../../../src/node/cli-client.js';
import { ClientServer } from '../../../src/rpc/client-server.js';
import { MachineExecutor } from '../client/machine-executor.js';

let executor: MachineExecutor;
let server: ClientServer;

beforeAll(async () => {
  executor = new MachineExecutor();
  server = await ClientServer.start({ address: '127.0.0.1:0', executor });
});
afterAll(async () => {
  await server.close();
});

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(args: string[], stop: Promise<void> = Promise.resolve(), onOut?: (s: string) => void): Promise<Run> {
  let code = 0;
  const out: string[] = [];
  const err: string[] = [];
  const saved = { ...cliOutput };
  const origErr = process.stderr.write.bind(process.stderr);
  cliOutput.out = (s) => {
    out.push(s);
    onOut?.(out.join(''));
  };
  cliOutput.err = (s) => void err.push(s);
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    const program = new Command('raftq').exitOverride();
    for (const c of clientCommands(
      (c) => (code = c),
      () => stop,
    ))
      program.addCommand(c);
    await program.parseAsync(['node', 'raftq', ...args]);
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    code = e.exitCode === 0 ? 0 : 2;
  } finally {
    Object.assign(cliOutput, saved);
    process.stderr.write = origErr;
  }
  return { code, out: out.join(''), err: err.join('') };
}

const S = (): string[] => ['--servers', server.address];

describe('raftq client commands', () => {
  it('enqueue --json prints the id; tasks get shows the task', async () => {
    const r = await run(['enqueue', 'cli-q', '{"to":"a@example.org"}', '--priority', '3', '--json', ...S()]);
    expect(r.code).toBe(0);
    const { id, deduplicated } = JSON.parse(r.out) as { id: string; deduplicated: boolean };
    expect(deduplicated).toBe(false);
    const g = await run(['tasks', 'get', id, '--json', ...S()]);
    expect(g.code).toBe(0);
    const t = JSON.parse(g.out) as { payload: { to: string }; priority: number; state: string };
    expect([t.payload.to, t.priority, t.state]).toEqual(['a@example.org', 3, 'waiting']);
    const list = await run(['tasks', 'list', 'cli-q', ...S()]);
    expect(list.out).toMatch(/^ID\s+QUEUE\s+STATE/);
    expect(list.out).toContain(id);
  });

  it('status --json reports the leader and marks an unreachable member', async () => {
    const r = await run(['status', '--json', '--servers', `${server.address},127.0.0.1:1`]);
    expect(r.code).toBe(0);
    const st = JSON.parse(r.out) as { leader: string; members: Array<Record<string, unknown>> };
    expect(st.leader).toBe('n1');
    expect(st.members).toHaveLength(2);
    expect(st.members[0]).toMatchObject({ id: 'n1', address: server.address, role: 'leader', term: 1 });
    expect(st.members[0]?.['commitIndex']).toBeTypeOf('number');
    expect(st.members[1]).toMatchObject({ address: '127.0.0.1:1', role: 'unreachable' });
  });

  it('exits 2 with one line on usage errors, 1 on failures', async () => {
    for (const args of [
      ['enqueue', 'q', '{not json', ...S()],
      ['enqueue', 'q', '1', '--servers', 'localhost:99999'],
      ['enqueue', 'q', '1', '--nope', ...S()],
      ['tasks', 'list', 'q', '--state', 'sleeping', ...S()],
      ['enqueue', 'bad name!', '1', ...S()],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    const missing = await run(['tasks', 'get', '99999', ...S()]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/NOT_FOUND/);
  });

  it('queues list, pause, configure and dlq list / redrive', async () => {
    await run(['queues', 'configure', 'cli-admin', '{"maxAttempts":1}', '--create', ...S()]);
    await run(['enqueue', 'cli-admin', '"x"', ...S()]);
    expect((await run(['queues', 'pause', 'cli-admin', ...S()])).code).toBe(0);
    const list = JSON.parse((await run(['queues', 'list', '--json', ...S()])).out) as Array<{
      queue: string;
      counts: { waiting: number };
      paused: boolean;
    }>;
    expect(list.find((q) => q.queue === 'cli-admin')).toMatchObject({ paused: true, counts: { waiting: 1 } });
    expect((await run(['queues', 'resume', 'cli-admin', ...S()])).code).toBe(0);
    const del = await run(['queues', 'delete', 'cli-admin', '--yes', ...S()]);
    expect(del.code).toBe(1);
    expect(del.err).toMatch(/FAILED_PRECONDITION/);
    expect(del.err).toMatch(/--force/);
    expect((await run(['queues', 'delete', 'cli-admin', '--force', '--yes', ...S()])).code).toBe(0);
  });

  it('worker --exec --result stdout acks on exit 0 with stdout as result and nacks otherwise', async () => {
    await run(['queues', 'configure', 'cli-w', '{"maxAttempts":1}', '--create', ...S()]);
    const ok = JSON.parse((await run(['enqueue', 'cli-w', '{"ok":true}', '--json', ...S()])).out) as { id: string };
    const bad = JSON.parse((await run(['enqueue', 'cli-w', '{"ok":false}', '--json', ...S()])).out) as { id: string };
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((r) => (stop = r));
    const script = 'read x; case "$x" in *true*) echo "tok=$RAFTQ_FENCING_TOKEN";; *) echo oops >&2; exit 3;; esac';
    const running = run(
      ['worker', 'cli-w', '--exec', script, '--result', 'stdout', '--concurrency', '2', '--json', ...S()],
      stopped,
      (out) => {
        if (out.split('\n').filter((l) => l.includes('"event"')).length >= 2) stop();
      },
    );
    const r = await running;
    expect(r.code).toBe(0);
    const events = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; id: string; error?: string });
    expect(events.find((e) => e.id === ok.id)?.event).toBe('completed');
    expect(events.find((e) => e.id === bad.id)).toMatchObject({ event: 'failed', error: 'exit code 3: oops' });
    const done = JSON.parse((await run(['tasks', 'get', ok.id, '--json', ...S()])).out) as {
      state: string;
      result: string;
    };
    expect(done.state).toBe('completed');
    expect(done.result).toMatch(/^tok=[1-9][0-9]*$/);
    const dead = JSON.parse((await run(['dlq', 'list', 'cli-w', '--json', ...S()])).out) as {
      items: Array<{ id: string }>;
    };
    expect(dead.items.map((t) => t.id)).toEqual([bad.id]);
    const re = JSON.parse((await run(['dlq', 'redrive', 'cli-w', '--json', ...S()])).out) as { ids: string[] };
    expect(re.ids).toHaveLength(1);
  }, 15_000);
});

describe('worker --exec child process', () => {
  const task = {
    id: '7',
    queue: 'q',
    payload: { a: 1 },
    headers: {},
    priority: 0,
    attempts: 0,
    deliveries: 0,
    leases: 1,
    dependencies: async () => [],
  };

  it('gets the payload on stdin and the token in its environment', async () => {
    const out = await runChild(
      'read x; echo "$x $RAFTQ_FENCING_TOKEN $RAFTQ_TASK_ID"',
      task,
      '42',
      new AbortController().signal,
    );
    expect(out.stdout.toString().trim()).toBe('{"a":1} 42 7');
  });

  it('is killed with its process group when the signal fires (the belief deadline)', async () => {
    const ac = new AbortController();
    const started = performance.now();
    const run = runChild('sleep 30 & sleep 30; wait', task, '1', ac.signal);
    setTimeout(() => ac.abort(), 100);
    await expect(run).rejects.toThrow(/killed by SIGKILL/);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
