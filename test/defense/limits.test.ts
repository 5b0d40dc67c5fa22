/** The defense bounds: chain length at parse time, the work estimate, and their configuration. */
import t from 'tap';
import { loadConfig } from '../../src/config';
import { chainWork, checkWorkBudget, estimateWork } from '../../src/defense/cost';
import { parseDefense, parseDefenseList } from '../../src/defense/parse';
import { ApiError } from '../../src/errors';

const MODELS = ['m224', 'm299'];
const MPX = 1e6;
const work = (spec: string, pixels: number, size: [number, number] = [224, 224]) => chainWork(parseDefense(spec, MODELS), pixels, size);

t.test('chain length: refused past the bound, unbounded without one (the CLI)', async (t) => {
  const long = 'bits3+bits3+bits3+bits3+bits3+m224';
  t.equal(parseDefense(long, MODELS).transforms.length, 5);
  t.equal(parseDefense('bits3+bits3+bits3+bits3+m224', MODELS, 'defenses', { maxTransforms: 4 }).transforms.length, 4, 'at the bound');
  t.throws(() => parseDefenseList(`m224,${long}`, MODELS, 'defenses', { maxTransforms: 4 }), { status: 400, type: 'invalid-parameter', param: 'defenses', message: /chains 5 transforms; at most 4/ });
});

t.test('work estimate per transform and chain', async (t) => {
  t.equal(work('m224', 3 * MPX), 0, 'a plain model costs nothing');
  t.equal(work('bits3+m224', MPX), 30);
  t.equal(work('jpeg75+m224', 2 * MPX), 200);
  t.same([1, 2, 3, 5].map((k) => work(`median${k}+m224`, MPX)), [80, 320, 720, 2000], 'sorted windows: 80 k^2');
  t.same([6, 15].map((k) => work(`median${k}+m224`, MPX)), [660, 750], 'histogram windows: 600 + 10 k');
  t.equal(work('blur1+m224', MPX), 80 + 13 * 7, 'blur: radius 3, 7 taps');
  // resize-pad pads to 248 x 248 for a 224 model and 331 x 331 for a 299 one, whatever the input size;
  // what follows it is costed on that size.
  t.equal(work('resize-pad+m224', 25 * MPX), (30 * 248 * 248) / MPX);
  t.ok(Math.abs(work('resize-pad+median5+m299', 100, [299, 299]) - (2030 * 331 * 331) / MPX) < 1e-9, 'a 299 model: 331 x 331');
  t.ok(Math.abs(work('median5+resize-pad+m224', MPX) - (2000 + (30 * 248 * 248) / MPX)) < 1e-9, 'before it, the input size counts');
  // The case: 15 chained median15 on a 3 MP photo (49 s on the main thread): 33,750 units.
  t.equal(work(`${'median15+'.repeat(15)}m224`, 3 * MPX), 33_750);
});

t.test('the budget: every image and defense adds up, the message has the numbers', async (t) => {
  const defenses = parseDefenseList('m224,median3+m224,jpeg75+m299', MODELS);
  const pixels = [MPX, 0.5 * MPX];
  const est = estimateWork(defenses, pixels, (m) => (m === 'm299' ? [299, 299] : [224, 224]));
  t.same(est.perDefense, [
    { spec: 'm224', work: 0 },
    { spec: 'median3+m224', work: 1080 },
    { spec: 'jpeg75+m299', work: 150 },
  ]);
  t.equal(est.total, 1230);
  t.doesNotThrow(() => checkWorkBudget(est, pixels, 1230), 'at the budget');
  try {
    checkWorkBudget(est, pixels, 1000);
    t.fail('over the budget was accepted');
  } catch (err) {
    t.ok(err instanceof ApiError);
    t.match(err, { status: 400, type: 'invalid-parameter', param: 'defenses' });
    t.match((err as Error).message, /estimated 1,230 work units .* on 2 images of 1\.50 megapixels in all; the budget per request is 1,000\. The costliest defense is median3\+m224 \(1,080\)/);
  }
});

t.test('configuration', async (t) => {
  const c = loadConfig({});
  t.same([c.defenseThreads, c.defenseMaxTransforms, c.defenseWorkBudget], [1, 4, 60_000], 'defaults');
  const e = loadConfig({ ADVSERVE_DEFENSE_THREADS: '2', ADVSERVE_DEFENSE_MAX_TRANSFORMS: '8', ADVSERVE_DEFENSE_WORK_BUDGET: '5000' });
  t.same([e.defenseThreads, e.defenseMaxTransforms, e.defenseWorkBudget], [2, 8, 5000]);
  t.throws(() => loadConfig({ ADVSERVE_DEFENSE_THREADS: '0' }), /ADVSERVE_DEFENSE_THREADS must be an integer in \[1, 64\]/);
  t.throws(() => loadConfig({ ADVSERVE_DEFENSE_MAX_TRANSFORMS: 'many' }), /ADVSERVE_DEFENSE_MAX_TRANSFORMS must be an integer/);
  t.throws(() => loadConfig({ ADVSERVE_DEFENSE_WORK_BUDGET: '0' }), /ADVSERVE_DEFENSE_WORK_BUDGET must be an integer/);
});
