// The client service's lazy cancel (src/rpc/lazy-abort.ts): what an AbortController would do, with
// the signal made only when asked for.
import { describe, expect, it } from 'vitest';
import { LazyAbort } from '../../../src/rpc/lazy-abort.js';

describe('rpc - lazy abort', () => {
  it('a signal asked for before the cancel fires with it; listeners run once, in order', () => {
    const c = new LazyAbort();
    const heard: string[] = [];
    c.onAbort(() => heard.push('first'));
    const signal = c.signal;
    signal.addEventListener('abort', () => heard.push('signal'));
    c.onAbort(() => heard.push('second'));
    expect(signal.aborted).toBe(false);
    c.abort();
    c.abort();
    expect(c.aborted).toBe(true);
    expect(signal.aborted).toBe(true);
    expect(heard).toEqual(['first', 'second', 'signal']);
    expect(c.signal).toBe(signal);
  });

  it('a signal asked for after the cancel comes aborted; a late listener never runs', () => {
    const c = new LazyAbort();
    c.abort();
    expect(c.signal.aborted).toBe(true);
    expect((c.signal.reason as Error).name).toBe('AbortError');
    let ran = false;
    c.onAbort(() => (ran = true));
    expect(ran).toBe(false);
  });
});
