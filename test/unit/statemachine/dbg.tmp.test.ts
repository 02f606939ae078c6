import { it } from 'vitest';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { buildLog, replay } from './logs.js';
it('dbg', () => {
  const z = { k: 0, a: 0, b: 0, c: 0, dt: 0, sess: 0, bytes: new Uint8Array([]) };
  const raws = [
    { ...z, b: 1442797561 },
    { ...z, k: 3, b: 1469488 },
    { ...z, k: 10 },
    { ...z, dt: 3000 },
    { ...z, k: 3, b: 1898162272 },
    { ...z, dt: 3000 },
    ...Array.from({ length: 19 }, () => ({ ...z })),
  ];
  raws[15] = { ...z, dt: 3000 };
  const t = buildLog(raws);
  const k = 6 % t.log.length;
  const a = new QueueStateMachine();
  replay(a, t.log.slice(0, k));
  const b = new QueueStateMachine();
  b.restore([...a.snapshot()]);
  for (const e of t.log.slice(k)) {
    const ra = JSON.stringify(replay(a, [e]));
    const rb = JSON.stringify(replay(b, [e]));
    if (ra !== rb) {
      console.log(e.index, e.cmds && JSON.stringify(e.cmds[0]?.cmd).slice(0, 200), '\nA', ra, '\nB', rb);
      break;
    }
  }
});
