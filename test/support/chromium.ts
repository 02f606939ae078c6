// The browser for the console test (issue 15): Debian's chromium, never a downloaded one. Where it is
// missing, the test setup installs it with apt when it can (root, apt-get present, not opted out with
// RAFTQ_NO_APT=1, no RAFTQ_CHROMIUM given); otherwise — or when apt fails — it says why, and the test skips.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface Browser {
  /** The executable, or null when there is none (then `why` says why). */
  path: string | null;
  why: string;
}

// Each apt-get call is bounded so a slow mirror cannot eat the CI budget (the test then skips, saying why).
const APT_MS = 150_000;

function apt(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('apt-get', args, {
    encoding: 'utf8',
    timeout: APT_MS,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ');
  return { ok: r.status === 0, out: r.error ? String(r.error) : out };
}

/** Finds chromium, installing Debian's package with apt where it can. */
export function ensureChromium(env: NodeJS.ProcessEnv = process.env, debianPath = '/usr/bin/chromium'): Browser {
  const given = env['RAFTQ_CHROMIUM'];
  const path = given ?? debianPath;
  if (existsSync(path)) return { path, why: '' };
  if (given !== undefined) return { path: null, why: `no browser at RAFTQ_CHROMIUM=${given}` };
  const manual = "install Debian's chromium (apt-get install -y chromium) or set RAFTQ_CHROMIUM";
  if (env['RAFTQ_NO_APT'] === '1') return { path: null, why: `no ${path}, and RAFTQ_NO_APT=1: ${manual}` };
  if (process.platform !== 'linux' || process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    return { path: null, why: `no ${path}, and apt is not usable here (needs root and apt-get): ${manual}` };
  }
  process.stderr.write(`console test: no ${path}; installing Debian's chromium with apt-get\n`);
  let r = apt(['install', '-y', '--no-install-recommends', 'chromium']);
  if (!r.ok) {
    // Package lists may be empty (a fresh container): refresh them once and try again.
    const u = apt(['update']);
    if (u.ok) r = apt(['install', '-y', '--no-install-recommends', 'chromium']);
    else r = u;
  }
  if (r.ok && existsSync(path)) return { path, why: '' };
  return { path: null, why: `apt-get could not install chromium (${r.out}): ${manual}` };
}
