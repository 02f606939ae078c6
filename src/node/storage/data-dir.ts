// Creating the data dir. Node's recursive mkdir never returns on some paths (under /proc it retries
// ENOENT forever), so the dir is made one component at a time: bounded by the path's depth, and any
// failure is a ConfigError naming the dir (the CLI exits 2).
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../config.js';

/** Creates `dir` (and missing parents) and checks it can be read, written and searched. */
export function makeDataDir(dir: string): void {
  const target = resolve(dir);
  const missing: string[] = [];
  try {
    let p = target;
    for (; !exists(p); p = dirname(p)) {
      if (p === dirname(p)) break; // the root
      missing.unshift(p);
    }
    // The nearest existing ancestor must be a directory (a file there is ENOTDIR, as mkdir says).
    if (!statSync(p).isDirectory()) throw Object.assign(new Error(`${p} is not a directory`), { code: 'ENOTDIR' });
    for (const m of missing) mkdirSync(m);
    accessSync(target, constants.W_OK | constants.R_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError('data-dir', `${dir} cannot be created or written (${code})`);
  }
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}
