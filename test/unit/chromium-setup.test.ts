// The console test's browser lookup (test/support/chromium.ts): a given or present browser is used;
// a missing one is installed with apt only where allowed, and otherwise the reason to skip names the fix.
import { describe, expect, it } from 'vitest';
import { ensureChromium } from './../support/chromium.js';

describe('ensureChromium', () => {
  it('uses RAFTQ_CHROMIUM when it exists, and never installs over a missing one', () => {
    expect(ensureChromium({ RAFTQ_CHROMIUM: process.execPath })).toEqual({ path: process.execPath, why: '' });
    const missing = ensureChromium({ RAFTQ_CHROMIUM: '/nonexistent/chromium' });
    expect(missing).toEqual({ path: null, why: 'no browser at RAFTQ_CHROMIUM=/nonexistent/chromium' });
  });

  it('uses the Debian path when present, and with RAFTQ_NO_APT=1 skips saying how to install it', () => {
    expect(ensureChromium({}, process.execPath).path).toBe(process.execPath);
    const r = ensureChromium({ RAFTQ_NO_APT: '1' }, '/nonexistent/chromium');
    expect(r.path).toBeNull();
    expect(r.why).toMatch(/RAFTQ_NO_APT=1: install Debian's chromium \(apt-get install -y chromium\)/);
  });
});
