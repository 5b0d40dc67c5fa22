/**
 * Attack progress (AttackParams.onProgress): one report per iteration and one at the end, each
 * consistent with the result, and reporting changes nothing in the output.
 */
import t from 'tap';
import type { AttackParams, AttackProgress } from '../../src/engine/types';
import { tinyEngine, tinyImage, useBackend } from '../support/tiny';

const engine = tinyEngine;

t.before(() => useBackend());

const cases: Array<[string, Omit<AttackParams, 'eps' | 'iterations'>]> = [
  ['targeted mng-l1', { method: 'mng-l1', targeted: true, target: 3 }],
  ['untargeted least-likely mi-fgsm with di', { method: 'mi-fgsm', targeted: false, di: true, seed: 5 }],
  ['untargeted max-loss ifgsm', { method: 'ifgsm', targeted: false, targetSelection: 'max-loss' }],
  ['fgsm', { method: 'fgsm', targeted: true, target: 1 }],
];

for (const [name, params] of cases) {
  t.test(`${name}: a report per iteration, then the final one; same bytes as without`, async (t) => {
    const e = engine();
    const image = tinyImage(12, 10, 7);
    const reports: AttackProgress[] = [];
    const base = { ...params, eps: 16, iterations: 6 };
    const watched = await e.attack(image, { ...base, onProgress: (p) => reports.push(structuredClone(p)) });
    const plain = await e.attack(image, base);
    t.ok(Buffer.from(watched.image.rgb).equals(Buffer.from(plain.image.rgb)), 'the output does not depend on reporting');

    const n = watched.iterations;
    t.same(reports.map((r) => r.iteration), Array.from({ length: n + 1 }, (_, i) => i), `iterations 0..${n}, in order`);
    t.ok(reports.every((r) => r.iterations === n && r.target.index === watched.target.index && r.target.label === watched.target.label), 'every report names the run and its target');
    t.same(reports.map((r) => r.models.map((m) => m.id)), reports.map(() => ['m1', 'm2']), 'one entry per model, in order');
    for (const r of reports) {
      const mean = (r.models[0].targetProb + r.models[1].targetProb) / 2;
      t.ok(Math.abs(r.ensemble.targetProb - mean) < 1e-6, `iteration ${r.iteration}: the ensemble is the models' mean`);
    }
    const last = reports[n];
    t.same(last.ensemble, watched.ensemble.after, 'the last report is the result');
    t.same(last.models.map(({ id, ...view }) => ({ id, ...view })), watched.models.map((m) => ({ id: m.id, ...m.after })));
    if (!params.di) {
      // Without a diverse draw, step 1's pass sees the clean image: its report is the "before".
      t.same({ label: reports[0].ensemble.label, prob: reports[0].ensemble.prob }, watched.ensemble.before, 'the first report is the clean prediction');
    }
    await e.dispose();
  });
}
