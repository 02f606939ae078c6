// The web console in a real browser (issue #15 acceptance): playwright-core drives Debian's chromium
// (never a downloaded browser) against a running 3-node cluster. It sees the leader, watches counts
// change live as the SDK enqueues, pauses a queue with a confirmation, opens a retried task and sees
// both attempts with their fencing tokens, redrives a dead letter with a click, and after the leader
// is SIGKILLed sees another node's console show the new leader. Screenshots: test-output/console/.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Client, NonRetryableError, Worker } from '../../src/client/index.js';
import { httpJson, startCluster, waitFor, waitForLeader, type TestCluster } from './helpers.js';
import { ensureChromium } from '../support/chromium.js';

const OUT = join(process.cwd(), 'test-output', 'console');
// Debian's chromium, installed with apt where it can be (test/support/chromium.ts); never downloaded.
const found = ensureChromium();
const CHROMIUM = found.path ?? '';
const hasBrowser = found.path !== null;
if (!hasBrowser) process.stderr.write(`console.test.ts: skipped: ${found.why}\n`);

/** The little of the DOM the page callbacks use (the project's tsconfig has no DOM lib). */
interface DomLike {
  document: { querySelector(sel: string): { textContent: string | null } | null };
}

let tc: TestCluster | null = null;
let browser: Browser | null = null;
const clients: Client[] = [];
const pageErrors: string[] = [];
/** Host of every request the pages made: all must be the nodes' admin ports (no CDN, no network). */
const requested: string[] = [];

beforeAll(async () => {
  if (!hasBrowser) return;
  mkdirSync(OUT, { recursive: true });
  const { chromium } = await import('playwright-core');
  // Root in a container: chromium's sandbox needs user namespaces it may not have.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  for (const c of clients.splice(0)) await c.close({ timeoutMs: 2_000 }).catch(() => undefined);
  await tc?.cleanup();
  tc = null;
});

async function openConsole(port: number): Promise<Page> {
  const page = await (browser as Browser).newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('request', (r) => requested.push(new URL(r.url()).host));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  await page.goto(`http://127.0.0.1:${port}/`, { timeout: 10_000 });
  return page;
}

/** Waits (bounded) until the element's text satisfies `re`; returns the text. */
async function waitText(page: Page, selector: string, re: RegExp, ms = 15_000): Promise<string> {
  await page.waitForFunction(
    ([sel, src]) => {
      const el = (globalThis as unknown as DomLike).document.querySelector(sel as string);
      return el !== null && new RegExp(src as string).test(el.textContent ?? '');
    },
    [selector, re.source],
    { timeout: ms, polling: 100 },
  );
  return (await page.textContent(selector)) ?? '';
}

interface TaskReply {
  answer: {
    value?: { payload: { bytes: number; kind: string; preview: string; truncated: boolean } };
    error?: { code: string };
  };
}

interface FsyncJson {
  writes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

interface ActionReply {
  answer: { ok: boolean; error?: { code: string; field?: string } };
  leader: string | null;
}

function postAction(
  port: number,
  body: string,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/console/api/action`, {
    method: 'POST',
    headers,
    body,
    signal: AbortSignal.timeout(10_000),
  });
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
}

describe.skipIf(!hasBrowser)('web console in chromium', () => {
  it('shows the cluster, live counts, a retried task, a redrive, and a new leader after SIGKILL', async () => {
    tc = await startCluster(3);
    const cluster = tc.cluster;
    const leader = await waitForLeader(cluster);
    const follower = cluster.specs.find((s) => s.id !== leader) as (typeof cluster.specs)[number];
    const client = new Client({ servers: cluster.servers, timeoutMs: 20_000 });
    clients.push(client);

    // Cluster: the leader's console names itself leader, with a linearizable read of the queues.
    const page = await openConsole(cluster.spec(leader).httpPort);
    await waitText(page, '#leader', new RegExp(`^${leader} `));
    await waitText(page, '#conn', /^live$/);
    await waitText(page, '#freshness', /^linearizable/);
    expect(await page.locator('#members tbody tr').count()).toBe(3);
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));

    // Queues: counts change live as the SDK enqueues (no reload: the marker survives).
    const counts = client.queue<{ n: number }>('console-counts');
    await counts.enqueueMany([1, 2, 3].map((n) => ({ payload: { n } })));
    const waiting = 'tr[data-queue="console-counts"] td[data-count="waiting"]';
    await waitText(page, waiting, /^3$/);
    await counts.enqueueMany([4, 5].map((n) => ({ payload: { n }, headers: { tenant: 'b' } })));
    await waitText(page, waiting, /^5$/);
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);

    // Every member's own fsync latency over the last minute (each member answers for itself), and
    // its own term: the enqueues were durable writes on all three.
    for (const s of cluster.specs) {
      const row = `#members tr[data-member="${s.id}"]`;
      await waitText(page, `${row} td.fsync`, /^\d[\d.]* ms \/ \d[\d.]* ms$/);
      await waitText(page, `${row} td:nth-child(4)`, /^\d+$/);
      await waitText(page, `${row} td:nth-child(11)`, /^no$/); // not recovering, and known to be so
    }
    const view = await httpJson<{ members: { id: string; fsync: FsyncJson | null }[] }>(
      cluster.spec(leader).httpPort,
      '/console/api/cluster',
    );
    for (const m of view.members) {
      const f = m.fsync as FsyncJson;
      expect(f.writes, `${m.id} fsync writes`).toBeGreaterThan(0);
      expect(f.p50Ms).toBeLessThanOrEqual(f.p99Ms);
      expect(f.p99Ms).toBeLessThanOrEqual(f.maxMs);
    }

    // Pause with a confirmation: the dialog's Confirm sends it, the row then reads paused.
    await page.click('tr[data-queue="console-counts"] button:text("Pause")');
    await waitText(page, '#confirm-text', /Pause queue console-counts/);
    await page.click('#confirm-ok');
    await waitText(page, 'tr[data-queue="console-counts"] td:nth-child(10)', /paused/);
    expect((await counts.stats()).settings.paused).toBe(true);
    // Per-key usage: the queue's limit keys (none here: its tasks have no key), read through the node.
    await page.click('tr[data-queue="console-counts"] button[data-keys]');
    await waitText(page, '#keys-title', /^Limit keys of console-counts$/);
    await waitText(page, '#key-table tbody', /No limit keys|\(no key\)/);
    // Tasks listed by state with a header filter: the two of tenant b, out of the five scanned.
    await page.fill('#f-header', 'tenant=b');
    await page.click('#list-form button');
    await waitText(page, '#list-title', /tenant=b \(5 scanned\)/);
    const rows = await page.locator('#task-list tbody tr td:nth-child(6)').allTextContents();
    expect(rows.map((p) => (JSON.parse(p) as { n: number }).n).sort()).toEqual([4, 5]);
    await page.fill('#f-header', '');
    await shot(page, '1-cluster-and-queues');

    // A task nacked once then acked, and a task that goes straight to the dead-letter queue.
    const jobs = client.queue<{ kind: string }>('console-jobs');
    await jobs.create({ deadLetterQueue: 'console-dlq' });
    const flaky = (await jobs.enqueue({ kind: 'flaky' })).id;
    const poison = (await jobs.enqueue({ kind: 'poison' })).id;
    let flakyRuns = 0;
    const worker = new Worker<{ kind: string }, string>(
      client,
      'console-jobs',
      (t) => {
        if (t.payload.kind === 'poison') throw new NonRetryableError('cannot parse');
        if (++flakyRuns === 1) throw new Error('transient failure');
        return 'done';
      },
      { retryDelayMs: () => 0, holdMsMax: 1_000 },
    );
    worker.start();
    await jobs.waitFor(flaky, { timeoutMs: 20_000 });
    const dead = await waitFor(
      async () => {
        const t = await jobs.get(poison);
        return t.state === 'dead' && t.deadLetterId ? t.deadLetterId : undefined;
      },
      20_000,
      'the poison task dead-lettered',
    );
    await worker.close({ timeoutMs: 5_000 });

    // Tasks: look the retried task up; both attempts show, with the tokens the state machine kept.
    const history = (await jobs.get(flaky)).history;
    expect(history.map((a) => a.end)).toEqual(['nacked', 'acked']);
    await page.fill('#task-id', flaky);
    await page.click('#lookup button');
    await waitText(page, '#task-state', /^completed$/);
    await waitText(page, '#task-history tbody tr[data-attempt="2"] td:nth-child(5)', /^acked$/);
    const tokens = await page.locator('#task-history [data-token]').allTextContents();
    expect(tokens).toEqual(history.map((a) => a.token));
    expect(await page.textContent('#task-history tbody tr[data-attempt="1"]')).toContain('transient failure');
    // Its story: every step with the log index and term of its entry, in log order; the SDK's read
    // carries the same (over gRPC).
    const viaSdk = await jobs.get(flaky);
    const steps = [
      [viaSdk.enqueuedIndex, viaSdk.enqueuedTerm],
      ...viaSdk.history.flatMap((a) => [
        [Number(a.token), a.leasedTerm],
        [a.endedIndex, a.endedTerm],
      ]),
      [viaSdk.endedIndex, viaSdk.endedTerm],
    ];
    for (const [index, term] of steps) expect(index && term, JSON.stringify(steps)).toBeGreaterThan(0);
    const entries = await page.locator('#task-story li .entry').allTextContents();
    const whats = await page.locator('#task-story li .what').allTextContents();
    const story = entries.map((e, i) => `${e} ${whats[i] ?? ''}`.replace(/\s+/g, ' ').trim());
    expect(story).toEqual([
      `#${steps[0]?.[0]} · term ${steps[0]?.[1]} enqueued`,
      `#${steps[1]?.[0]} · term ${steps[1]?.[1]} attempt 1: leased to ${history[0]?.workerId}, token ${history[0]?.token}`,
      `#${steps[2]?.[0]} · term ${steps[2]?.[1]} attempt 1: nacked — transient failure`,
      // Recorded beside the attempt's end, at the same entry: how it was retried (issue 15).
      `#${steps[2]?.[0]} · term ${steps[2]?.[1]} retry: at once; 1 of ${viaSdk.maxAttempts} attempts failed`,
      `#${steps[3]?.[0]} · term ${steps[3]?.[1]} attempt 2: leased to ${history[1]?.workerId}, token ${history[1]?.token}`,
      `#${steps[4]?.[0]} · term ${steps[4]?.[1]} attempt 2: acked`,
      `#${steps[5]?.[0]} · term ${steps[5]?.[1]} completed (acked)`,
    ]);
    // Each step shows its time; the SDK's read carries the same steps (over gRPC).
    const times = await page.locator('#task-story li .when').allTextContents();
    expect(
      times.every((x) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(x)),
      JSON.stringify(times),
    ).toBe(true);
    expect(viaSdk.story?.map((x) => [x.kind, x.index, x.term])).toEqual([
      ['enqueued', steps[0]?.[0], steps[0]?.[1]],
      ['leased', steps[1]?.[0], steps[1]?.[1]],
      ['attempt_ended', steps[2]?.[0], steps[2]?.[1]],
      ['retry', steps[2]?.[0], steps[2]?.[1]],
      ['leased', steps[3]?.[0], steps[3]?.[1]],
      ['attempt_ended', steps[4]?.[0], steps[4]?.[1]],
      ['ended', steps[5]?.[0], steps[5]?.[1]],
    ]);
    expect(await page.textContent('#task-payload')).toContain('"kind": "flaky"');
    // The rate charts (uPlot, served by the node) draw once two samples a second apart exist.
    await page.waitForSelector('[data-chart="console-jobs"] canvas', { timeout: 15_000 });
    await page.locator('#task-detail').scrollIntoViewIfNeeded();
    await shot(page, '2-retried-task');

    // Dead letters: list the DLQ, click Redrive on the letter, confirm; it goes back to its queue.
    await page.selectOption('#list-queue', 'console-dlq');
    await page.selectOption('#list-state', 'deadLetters');
    await page.click('#list-form button');
    await page.click(`[data-redrive="${dead}"]`);
    await waitText(page, '#confirm-text', new RegExp(`Redrive task ${dead}`));
    await page.click('#confirm-ok');
    await waitText(page, '#toast', /1 redriven/);
    const letter = await client.queue('console-dlq').get(dead);
    expect([letter.state, letter.reason]).toEqual(['cancelled', 'redriven']);
    const back = (await jobs.list({ state: 'waiting' })).items.filter((t) => t.redrivenFrom === dead);
    expect(back.length).toBe(1);
    await waitText(page, '#task-list tbody', /none/);
    await shot(page, '3-redriven');

    // Payload previews: raw bytes as hex; a gzipped 70 kB payload unpacked, decoded, cut at 4 KiB.
    const bytes = client.queue('console-bytes');
    const raw = (await bytes.enqueue(new Uint8Array([0, 1, 2, 255]))).id;
    const big = (await bytes.enqueue({ text: 'x'.repeat(70_000) })).id;
    const lp = cluster.spec(leader).httpPort;
    const rawView = await httpJson<TaskReply>(lp, `/console/api/task?id=${raw}`);
    expect(rawView.answer.value?.payload).toEqual({ bytes: 4, kind: 'hex', preview: '000102ff', truncated: false });
    const bigView = (await httpJson<TaskReply>(lp, `/console/api/task?id=${big}`)).answer.value?.payload;
    expect([bigView?.kind, bigView?.truncated, bigView?.preview.length]).toEqual(['json', true, 4096]);
    expect(bigView?.bytes).toBeLessThan(70_000);
    expect((await fetch(`http://127.0.0.1:${lp}/console/api/task?id=x`)).status).toBe(400);
    const missing = await httpJson<TaskReply>(lp, '/console/api/task?id=999999');
    expect(missing.answer.error?.code).toBe('NOT_FOUND');

    // The action API: JSON from this origin only, console commands only; a follower answers
    // NOT_LEADER naming the leader (its console says so; admin actions are not forwarded).
    expect((await postAction(lp, '{}', { 'content-type': 'text/plain' })).status).toBe(415);
    const foreign = await postAction(lp, '{}', { 'content-type': 'application/json', origin: 'http://elsewhere.test' });
    expect(foreign.status).toBe(403);
    const notConsole = await postAction(lp, JSON.stringify({ cmd: { type: 'cancel', id: flaky } }));
    expect(((await notConsole.json()) as ActionReply).answer.error?.field).toBe('type');
    const resume = JSON.stringify({ cmd: { type: 'resumeQueue', queue: 'console-counts' } });
    const onFollower = (await (await postAction(follower.httpPort, resume)).json()) as ActionReply;
    expect([onFollower.answer.error?.code, onFollower.leader]).toEqual(['NOT_LEADER', leader]);
    expect((await counts.stats()).settings.paused).toBe(true);

    // Failover: a follower's console (stale reads, marked so) shows the new leader after SIGKILL.
    const other = await openConsole(follower.httpPort);
    await waitText(other, '#leader', new RegExp(`^${leader} `));
    await waitText(other, '#freshness', /^stale/);
    await cluster.kill(leader);
    const next = await waitForLeader(cluster, 20_000, leader);
    await waitText(other, '#leader', new RegExp(`^${next} `), 20_000);
    await waitText(other, `#members tr[data-member="${next}"] td:nth-child(2)`, /leader/);
    // Its leadership history has both leaders (sampled since the node started, console open or not).
    await other.click('#cluster details summary');
    await waitText(other, '#leader-changes', new RegExp(`term \\d+: ${leader}.*term \\d+: ${next}`));
    await shot(other, '4-new-leader');

    const admin = new Set(cluster.specs.map((x) => `127.0.0.1:${x.httpPort}`));
    expect(requested.filter((host) => !admin.has(host))).toEqual([]);
    expect(requested.length).toBeGreaterThan(0);
    expect(pageErrors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(e))).toEqual([]);
  });
});
