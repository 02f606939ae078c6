// Client authentication and authorisation over the real client service and state machine (issue
// #14): one table over every client RPC and role, allowed and refused; refusals apply nothing and are
// counted per token id; Submit items are authorised one by one; auth is off without tokens.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientAuth, hashToken, matches, newToken, type Role, type TokenSpec } from '../../../src/rpc/auth.js';
import { CLIENT_SERVICE } from '../../../src/rpc/client-service.js';
import { ClientServer } from '../../../src/rpc/client-server.js';
import { clientMethods, loadProtoFile } from '../../../src/rpc/proto.js';
import { MachineExecutor } from '../client/machine-executor.js';

type Obj = Record<string, unknown>;
const Q = 'emails.welcome';
const ROLES: Role[] = ['producer', 'worker', 'admin', 'reader'];

/** The specification (issue #14; an admin may also read), written out independently of src/rpc/auth.ts: who may call what. */
const MAY: Record<string, Role[] | 'any'> = {
  OpenSession: 'any',
  KeepAlive: 'any',
  CloseSession: 'any',
  Status: 'any',
  Submit: 'any',
  SubmitStream: 'any',
  Enqueue: ['producer'],
  Lease: ['worker'],
  Extend: ['worker'],
  Ack: ['worker'],
  Nack: ['worker'],
  Release: ['worker'],
  Cancel: ['admin'],
  Promote: ['admin'],
  Update: ['admin'],
  CreateQueue: ['admin'],
  ConfigureQueue: ['admin'],
  PauseQueue: ['admin'],
  ResumeQueue: ['admin'],
  PurgeQueue: ['admin'],
  DeleteQueue: ['admin'],
  Redrive: ['admin'],
  GetTask: ['reader', 'admin'],
  ListTasks: ['reader', 'admin'],
  ListDeadLetters: ['reader', 'admin'],
  QueueStats: ['reader', 'admin'],
  ListQueues: ['reader', 'admin'],
  WaitFor: ['reader', 'producer', 'admin'],
  Events: ['reader', 'admin'],
  ListKeys: ['reader', 'admin'],
  UpsertSchedule: ['admin'],
  DeleteSchedule: ['admin'],
  PauseSchedule: ['admin'],
  ResumeSchedule: ['admin'],
  TriggerSchedule: ['admin'],
  GetSchedule: ['reader', 'admin'],
  ListSchedules: ['reader', 'admin'],
  Flow: ['producer'],
  CancelFlow: ['admin'],
  BindTopic: ['admin'],
  UnbindTopic: ['admin'],
  Publish: ['producer'],
  SetSharedLimit: ['admin'],
  DeleteSharedLimit: ['admin'],
  ListSharedLimits: ['reader', 'admin'],
};

/** A request for each method: on queue Q where the method takes one; by-id ones name a task. */
function requestFor(method: string): Obj {
  const header = { timeoutMs: 500 };
  switch (method) {
    case 'Enqueue':
      return { header, queue: Q, tasks: [{ payload: Buffer.from('x') }] };
    case 'Submit':
    case 'SubmitStream':
      return { items: [] };
    case 'Flow':
      return { header, root: { queue: Q, task: { payload: Buffer.from('x') } } };
    case 'Publish':
      return { header, topic: 't', task: { payload: Buffer.from('x') } };
    case 'BindTopic':
    case 'UnbindTopic':
      return { header, topic: 't', queue: Q };
    case 'SetSharedLimit':
    case 'DeleteSharedLimit':
      return { header, name: 'api' };
    case 'WaitFor':
      return { id: '999', timeoutMs: 1 };
    case 'OpenSession':
      return { callTimeoutMs: 500, sessionTimeoutMs: 10_000, clientId: 'auth-test' };
    default:
      return { header, queue: Q, id: '999', items: [{ id: '999', token: '1' }], read: { timeoutMs: 500 } };
  }
}

const tokens = new Map<string, string>();
let auth: ClientAuth;
let executor: MachineExecutor;
let server: ClientServer;
let raw: grpc.Client & Record<string, (...a: unknown[]) => unknown>;

beforeAll(async () => {
  const specs: TokenSpec[] = [];
  const grants: [string, Role, string][] = [
    ...ROLES.map((r): [string, Role, string] => [r, r, 'emails.*']),
    ['producer-other', 'producer', 'other.*'],
    ['boss', 'admin', '*'],
  ];
  for (const [id, role, queues] of grants) {
    const token = newToken(id);
    tokens.set(id, token);
    specs.push({ id, hash: await hashToken(token), grants: [{ role, queues }] });
  }
  auth = new ClientAuth(specs);
  executor = new MachineExecutor();
  server = await ClientServer.start({ address: '127.0.0.1:0', executor, auth });
  const Ctor = grpc.makeGenericClientConstructor(
    loadProtoFile('client.proto')[CLIENT_SERVICE] as grpc.ServiceDefinition,
    'RaftQ',
  );
  raw = new Ctor(server.address, grpc.credentials.createInsecure()) as typeof raw;
}, 30_000);

afterAll(async () => {
  raw.close();
  await server.close();
});

function meta(token: string | null): grpc.Metadata {
  const m = new grpc.Metadata();
  if (token !== null) m.set('authorization', `Bearer ${token}`);
  return m;
}

/** The gRPC status code of one call (OK when it answered). */
function codeOf(method: string, req: Obj, token: string | null): Promise<number> {
  if (method === 'Events') return eventsCode(req, token);
  if (method === 'SubmitStream') return submitStreamCode(req, token);
  return new Promise((resolve) => {
    raw[method]?.(req, meta(token), { deadline: new Date(Date.now() + 5_000) }, (err: grpc.ServiceError | null) =>
      resolve(err ? err.code : grpc.status.OK),
    );
  });
}

/** Events: OK once the subscription's headers arrive (then cancelled), or the stream's error code. */
function eventsCode(req: Obj, token: string | null): Promise<number> {
  return new Promise((resolve) => {
    const call = (raw['Events'] as (r: Obj, m: grpc.Metadata) => grpc.ClientReadableStream<Obj>)(req, meta(token));
    let done = false;
    call.on('metadata', () => {
      if (done) return;
      done = true;
      resolve(grpc.status.OK);
      call.cancel();
    });
    call.on('error', (e: grpc.ServiceError) => {
      if (!done) resolve(e.code);
      done = true;
    });
  });
}

/** SubmitStream: each request is admitted as a Submit; the code of the first request's answer. */
function submitStreamCode(req: Obj, token: string | null): Promise<number> {
  return new Promise((resolve) => {
    const call = (raw['SubmitStream'] as (m: grpc.Metadata) => grpc.ClientDuplexStream<Obj, Obj>)(meta(token));
    call.on('data', (reply: Obj) => {
      const error = reply['error'] as Obj | null;
      const code = error === null ? 'OK' : (error['code'] as string);
      resolve(code === 'OK' ? grpc.status.OK : (grpc.status[code as keyof typeof grpc.status] as number));
      call.cancel();
    });
    call.on('error', (e: grpc.ServiceError) => resolve(e.code));
    call.write({ id: 1, submit: req, timeoutMs: 5_000 });
  });
}

async function queueCount(): Promise<number> {
  const r = await new Promise<Obj>((resolve, reject) =>
    raw['ListQueues']?.({}, meta(tokens.get('boss') as string), (err: grpc.ServiceError | null, reply: Obj) =>
      err ? reject(err) : resolve(reply),
    ),
  );
  return (r['queues'] as unknown[]).length;
}

const AUTH_CODES = [grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED];

describe('security - client auth, every RPC and role', () => {
  it('the table covers every method of client.proto', () => {
    expect(Object.keys(clientMethods()).sort()).toEqual(Object.keys(MAY).sort());
  });

  for (const method of Object.keys(MAY)) {
    it(`${method}: allowed and refused by role`, async () => {
      const may = MAY[method] as Role[] | 'any';
      for (const role of ROLES) {
        const code = await codeOf(method, requestFor(method), tokens.get(role) as string);
        if (may === 'any' || may.includes(role)) expect(AUTH_CODES, `${method} as ${role}`).not.toContain(code);
        else expect(code, `${method} as ${role}`).toBe(grpc.status.PERMISSION_DENIED);
      }
      expect(await codeOf(method, requestFor(method), null)).toBe(grpc.status.UNAUTHENTICATED);
      expect(await codeOf(method, requestFor(method), `${tokens.get('admin') as string}x`)).toBe(
        grpc.status.UNAUTHENTICATED,
      );
      expect(await codeOf(method, requestFor(method), 'nobody.abc')).toBe(grpc.status.UNAUTHENTICATED);
    });
  }

  it('checks the queue pattern, and refused calls apply nothing', async () => {
    const before = await queueCount();
    const created = await codeOf('CreateQueue', { header: {}, queue: 'other.q' }, tokens.get('admin') as string);
    expect(created).toBe(grpc.status.PERMISSION_DENIED);
    const enq = await codeOf('Enqueue', requestFor('Enqueue'), tokens.get('producer-other') as string);
    expect(enq).toBe(grpc.status.PERMISSION_DENIED);
    expect(
      await codeOf('Enqueue', { ...requestFor('Enqueue'), queue: 'other.q' }, tokens.get('reader') as string),
    ).toBe(grpc.status.PERMISSION_DENIED);
    expect(await queueCount()).toBe(before);
    expect(
      await codeOf('Enqueue', { ...requestFor('Enqueue'), queue: 'other.q' }, tokens.get('producer-other') as string),
    ).toBe(grpc.status.OK);
    expect(await queueCount()).toBe(before + 1);
  });

  it('authorises each Submit item alone', async () => {
    const items = [
      { enqueue: { queue: Q, tasks: [{ payload: Buffer.from('a') }] } },
      { createQueue: { queue: 'emails.x' } },
    ];
    const reply = await new Promise<Obj>((resolve, reject) =>
      raw['Submit']?.({ items }, meta(tokens.get('producer') as string), (err: grpc.ServiceError | null, r: Obj) =>
        err ? reject(err) : resolve(r),
      ),
    );
    const results = reply['results'] as Obj[];
    expect(results[0]?.['enqueue']).toBeDefined();
    expect((results[1]?.['error'] as Obj)['code']).toBe('PERMISSION_DENIED');
  });

  it('counts refusals per token id, never the token', () => {
    const counts = auth.failureCounts();
    expect(counts['reader']?.permissionDenied).toBeGreaterThan(0);
    expect(counts['admin']?.unauthenticated).toBeGreaterThan(0);
    expect(counts['']?.unauthenticated).toBeGreaterThan(0);
    for (const token of tokens.values()) expect(JSON.stringify(counts)).not.toContain(token);
  });

  it('matches queue patterns', () => {
    expect(matches('emails.*', 'emails.welcome')).toBe(true);
    expect(matches('emails.*', 'emails.')).toBe(true);
    expect(matches('emails.*', 'emailsX')).toBe(false);
    expect(matches('*', 'anything')).toBe(true);
    expect(matches('a*b*c', 'axxbyyc')).toBe(true);
    expect(matches('a*b*c', 'axxc')).toBe(false);
    expect(matches('ab*ba', 'aba')).toBe(false);
    expect(matches('exact', 'exact')).toBe(true);
    expect(matches('exact', 'exactly')).toBe(false);
  });

  it('is off without tokens: a call without a token is served', async () => {
    const open = new ClientAuth([]);
    expect(open.enabled).toBe(false);
    const who = await open.admit('DeleteQueue', undefined, { queue: Q });
    expect('code' in who).toBe(false);
  });
});
