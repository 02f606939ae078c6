// A call whose early attempt may have applied must never end as "not applied" because a later
// attempt got NOT_LEADER (found by the jepsen-like suite: a committed enqueue reported as failed).
import { describe, expect, it } from 'vitest';
import type { RaftqError } from '../../../src/client/index.js';
import { Client } from '../../../src/client/index.js';
import { TransportError, type Message, type Method, type Transport } from '../../../src/client/transport.js';

class ScriptedTransport implements Transport {
  enqueueCalls = 0;
  constructor(private readonly firstEnqueue: 'UNAVAILABLE' | 'NOT_LEADER') {}
  async call(_address: string, method: Method, _request: Message): Promise<Message> {
    if (method === 'OpenSession') return { session: '7', timeoutMs: 60_000 };
    if (method === 'Enqueue') {
      this.enqueueCalls++;
      const code = this.enqueueCalls === 1 ? this.firstEnqueue : 'NOT_LEADER';
      throw new TransportError({ code, message: `scripted ${code}` });
    }
    throw new TransportError({ code: 'UNAVAILABLE', message: 'no status here' });
  }
  stream(): () => void {
    return () => undefined;
  }
  close(): void {}
}

async function failure(first: 'UNAVAILABLE' | 'NOT_LEADER'): Promise<{ err: RaftqError; calls: number }> {
  const transport = new ScriptedTransport(first);
  const client = new Client({ servers: ['127.0.0.1:7001'], transport, timeoutMs: 300, retryMsMin: 5, retryMsMax: 20 });
  try {
    await client.queue('q').enqueue({ x: 1 });
    throw new Error('expected the enqueue to fail');
  } catch (e) {
    return { err: e as RaftqError, calls: transport.enqueueCalls };
  } finally {
    await client.close();
  }
}

describe('unknown outcomes', () => {
  it('reports UNAVAILABLE (unknown) when a later attempt gets NOT_LEADER after an unknown one', async () => {
    const { err, calls } = await failure('UNAVAILABLE');
    expect(calls).toBeGreaterThan(1);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/outcome unknown; last attempt: NOT_LEADER/);
  });

  it('reports NOT_LEADER when no attempt can have applied', async () => {
    const { err } = await failure('NOT_LEADER');
    expect(err.code).toBe('NOT_LEADER');
  });
});
