// Calls the admin HTTP routes of a cluster (admin-members.ts, backup): tries each admin address in
// turn, goes on past a node that is not the leader or does not answer, and retries until the
// deadline while the answer says to (no leader yet, a change still committing, a lagging learner
// when the caller waits for it). A typed refusal ends the call as an AdminCallError with its code.

import { request as httpsRequest } from 'node:https';

export class AdminCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'AdminCallError';
  }
}

export interface AdminCallOptions {
  /** Admin HTTP addresses (host:port). */
  addresses: string[];
  method?: 'GET' | 'POST';
  body?: unknown;
  token?: string;
  /** Give up (with the last refusal) after this long. */
  deadlineMs: number;
  /** Codes that mean "try again shortly" (NOT_LEADER and unreachable nodes always do). */
  retryOn?: readonly string[];
  /** Per request. */
  requestTimeoutMs?: number;
  /** PEM CA of the cluster: the admin ports speak HTTPS (a node with TLS on), checked against it. */
  ca?: Buffer;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function callOne(address: string, path: string, o: AdminCallOptions, timeoutMs: number): Promise<Answer> {
  if (o.ca !== undefined) return callHttps(address, path, o, o.ca, timeoutMs);
  const res = await fetch(`http://${address}${path}`, {
    method: o.method ?? 'POST',
    headers: {
      'content-type': 'application/json',
      ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
    },
    ...(o.method === 'GET' ? {} : { body: JSON.stringify(o.body ?? {}) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { ok: false, code: res.status === 401 || res.status === 403 ? 'UNAUTHENTICATED' : 'HTTP_' + res.status };
    body['message'] = text.trim().slice(0, 300);
  }
  return { status: res.status, body };
}

/** callOne over HTTPS with the cluster CA (fetch takes no CA of its own). */
function callHttps(address: string, path: string, o: AdminCallOptions, ca: Buffer, timeoutMs: number): Promise<Answer> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const body = o.method === 'GET' ? undefined : JSON.stringify(o.body ?? {});
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host,
        port: Number(address.slice(colon + 1)),
        path,
        method: o.method ?? 'POST',
        ca,
        timeout: timeoutMs,
        headers: {
          'content-type': 'application/json',
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve(answerOf(res.statusCode ?? 0, text)));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

function answerOf(status: number, text: string): Answer {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { ok: false, code: status === 401 || status === 403 ? 'UNAUTHENTICATED' : 'HTTP_' + status };
    body['message'] = text.trim().slice(0, 300);
  }
  return { status, body };
}

/** The first successful answer's body, or throws AdminCallError. */
export async function adminCall(path: string, o: AdminCallOptions): Promise<Record<string, unknown>> {
  const end = Date.now() + o.deadlineMs;
  let last = new AdminCallError('UNAVAILABLE', `no admin address answered (tried ${o.addresses.join(', ')})`);
  // The leader's refusal says more than a follower's NOT_LEADER or a node that did not answer.
  let leaders: AdminCallError | null = null;
  for (;;) {
    for (const address of o.addresses) {
      let a: Answer;
      try {
        const left = Math.max(2_000, end - Date.now());
        a = await callOne(address, path, o, Math.min(o.requestTimeoutMs ?? 15_000, left));
      } catch (err) {
        last = new AdminCallError('UNAVAILABLE', `${address}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      if (a.status === 200 && a.body['ok'] !== false) return a.body;
      const code = String(a.body['code'] ?? `HTTP_${a.status}`);
      last = new AdminCallError(code, String(a.body['message'] ?? ''));
      if (code === 'NOT_LEADER') continue;
      leaders = last;
      if (!(o.retryOn ?? []).includes(code)) throw last;
      break;
    }
    if (Date.now() + 200 >= end) throw leaders ?? last;
    await new Promise((r) => setTimeout(r, 200));
  }
}
