/**
 * early_stop: an attack ends once its goal has held for k consecutive iterations (judged on the
 * gradient passes' own predictions), says so in the result, and follows the plain attack's path
 * up to there; off (0, the default), nothing changes.
 */
import t from 'tap';
import { Engine } from '../../src/engine/engine';
import type { AttackOutcome, AttackParams, AttackProgress } from '../../src/engine/types';
import { tinyEngine, tinyImage, useBackend } from '../support/tiny';

const engine = tinyEngine;

t.before(() => useBackend());

const image = tinyImage(12, 10, 7);

async function watched(e: Engine, params: AttackParams): Promise<{ out: AttackOutcome; reports: AttackProgress[] }> {
  const reports: AttackProgress[] = [];
  const out = await e.attack(image, { ...params, onProgress: (p) => reports.push(structuredClone(p)) });
  return { out, reports };
}

/** The first iteration at which the goal has held for k passes in a row, or -1. */
function heldAt(hits: boolean[], k: number): number {
  for (let i = 0, streak = 0; i < hits.length; i++) {
    streak = hits[i] ? streak + 1 : 0;
    if (streak >= k) return i;
  }
  return -1;
}

for (const method of ['mng-l1', 'ifgsm', 'mi-fgsm'] as const) {
  t.test(`${method}: stops once the goal held k iterations, on the plain run's path`, async (t) => {
    const e = engine();
    const k = 2;
    // A target the plain attack reaches, but not at once.
    let chosen: { base: AttackParams; plain: Awaited<ReturnType<typeof watched>>; stopAt: number } | undefined;
    for (let target = 0; target < 5 && !chosen; target++) {
      const base: AttackParams = { method, targeted: true, target, eps: 32, iterations: 30 };
      const plain = await watched(e, base);
      const stopAt = heldAt(plain.reports.slice(0, 30).map((r) => r.ensemble.label === plain.out.target.label), k);
      if (stopAt >= k + 1 && stopAt < 29) chosen = { base, plain, stopAt };
    }
    if (!chosen) throw new Error('no target is reached after a few steps: the case needs another image');
    const { base, plain, stopAt } = chosen;
    t.equal(plain.out.stoppedEarly, false, 'off by default');
    t.equal(plain.out.iterations, 30);

    const early = await watched(e, { ...base, early_stop: k });
    t.equal(early.out.stoppedEarly, true);
    t.equal(early.out.iterations, stopAt, `stopped before step ${stopAt}, where the plain run's predictions had held ${k} times`);
    t.same(early.reports.slice(0, stopAt + 1), plain.reports.slice(0, stopAt + 1), 'the same path up to the stop');
    const last = early.reports[early.reports.length - 1];
    t.same([last.iteration, last.iterations], [stopAt, stopAt], 'the final report names the steps taken');
    t.same(last.ensemble, early.out.ensemble.after, 'and is the result');

    const off = await e.attack(image, { ...base, early_stop: 0 });
    t.ok(Buffer.from(off.image.rgb).equals(Buffer.from(plain.out.image.rgb)) && off.iterations === 30 && !off.stoppedEarly, 'early_stop 0: the plain attack');
    await e.dispose();
  });
}

t.test('a goal never met: the attack runs every iteration', async (t) => {
  const e = engine();
  const { out, reports } = await watched(e, { method: 'ifgsm', targeted: false, targetSelection: 'max-loss', eps: 0.25, iterations: 3, early_stop: 1 });
  t.ok(reports.slice(0, 3).every((r) => r.ensemble.label === reports[0].ensemble.label), 'the label never moved');
  t.equal(out.stoppedEarly, false);
  t.equal(out.iterations, 3);
  await e.dispose();
});
