// Progress of `raftq backup` (issue 16): the total from Content-Length or the backup's header line,
// at most one line per 5 % and 500 ms, always the final line; in place on a terminal.
import { describe, expect, it } from 'vitest';
import { backupTotal, ByteProgress } from '../../../src/node/backup-progress.js';
import { encodeBackup } from '../../../src/node/backup.js';

describe('backup progress', () => {
  it('takes the total from Content-Length, else from the header line of the backup', () => {
    const file = encodeBackup(
      { clusterId: 'c', index: 7, term: 2, digest: 'd', createdAt: '2026-12-02T00:00:00Z' },
      new Uint8Array(1000),
    );
    expect(backupTotal('1234', file.subarray(0, 10))).toBe(1234);
    expect(backupTotal(null, file.subarray(0, file.indexOf(0x0a) + 5))).toBe(file.byteLength);
    expect(backupTotal(null, file.subarray(0, 10))).toBeNull(); // no complete header line yet
    expect(backupTotal('x', new TextEncoder().encode('not json\n'))).toBeNull();
  });

  it('prints a line per 5 % and 500 ms at most, and always the last one', () => {
    const out: string[] = [];
    let t = 0;
    const p = new ByteProgress(
      (s) => out.push(s),
      false,
      () => t,
    );
    for (let got = 10; got <= 1000; got += 10) {
      t += 100; // 10 chunks per second: the clock limits to one line per 500 ms
      p.update(got, 1000);
    }
    p.done(1000);
    expect(out.length).toBeGreaterThan(2);
    expect(out.length).toBeLessThanOrEqual(22);
    expect(out.at(-1)).toBe('raftq: backup: received 1000 of 1000 bytes (100%)\n');
    const pcts = out.map((l) => Number(/\((\d+)%\)/.exec(l)?.[1]));
    expect(pcts).toEqual([...pcts].sort((a, b) => a - b));
    expect(out.every((l) => l.endsWith('\n') && !l.startsWith('\r'))).toBe(true);
  });

  it('rewrites one line on a terminal, and ends it', () => {
    const out: string[] = [];
    const p = new ByteProgress(
      (s) => out.push(s),
      true,
      () => 0,
    );
    p.update(500, null);
    p.done(800);
    expect(out).toEqual([
      '\rraftq: backup: received 500 bytes',
      '\rraftq: backup: received 800 of 800 bytes (100%)',
      '\n',
    ]);
  });
});
