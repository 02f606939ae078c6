// fast-check runs from one fixed seed in `npm test`, so CI is repeatable: a red run replays exactly.
// `npm run props` explores new seeds (RAFTQ_FC_SEED=random); a seed that fails there becomes a
// regression test beside the property it broke.
import fc from 'fast-check';

const raw = process.env['RAFTQ_FC_SEED'];
if (raw !== 'random') fc.configureGlobal({ seed: raw === undefined ? 20261202 : Number(raw) });
