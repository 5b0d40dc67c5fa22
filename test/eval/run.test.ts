/** runEval and `advserve eval` on the fake engine: counts, seeded targets, formats, usage errors. */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDefenseList } from '../../src/defense/parse';
import { evalCommand } from '../../src/eval/command';
import { parseMethodList } from '../../src/eval/methods';
import { pickTarget, runEval, type EvalInput } from '../../src/eval/run';
import { progressReporter } from '../../src/eval/progress';
import { ApiError } from '../../src/errors';
import { FAKE_LABELS, FAKE_MODELS } from '../helpers/fake-engine';
import { PixelEngine, grey, greyImage } from './fixtures';

const inputs = (values: Record<string, number>): EvalInput[] => Object.entries(values).map(([name, v]) => ({ name, load: async () => greyImage(v) }));

t.test('runEval: clean labels from all models, seeded targets, counts per method and defense', async (t) => {
  const engine = new PixelEngine();
  const settings = {
    eps: 8,
    iterations: 3,
    methods: parseMethodList('none,fgsm,mi-fgsm+di+ti'),
    defenses: parseDefenseList('fake_a,median3+fake_a,fake_b', FAKE_MODELS),
    targeted: true,
    seed: 5,
  };
  const progress: string[] = [];
  const report = await runEval(engine, inputs({ 'a.png': 90, 'b.png': 170 }), settings, { onProgress: (p) => progress.push(`${p.done}/${p.total} ${p.image} ${p.method}`) });
  t.same(report.meta.images.map((i) => i.label), ['Neutral', 'Sexy'], 'clean label = ensemble of both fake models');
  t.same(report.meta.images.map((i) => i.target), [FAKE_LABELS[pickTarget(5, 'a.png', 2, 5)], FAKE_LABELS[pickTarget(5, 'b.png', 4, 5)]]);
  t.same(report.meta.labelModels, FAKE_MODELS);
  t.same(report.meta.attackModels, FAKE_MODELS, 'attack models default to all');
  t.same(
    report.rows.map((r) => `${r.method} ${r.defense} ${r.n} ${r.hits} ${r.misses}`),
    [
      'none fake_a 2 0 0',
      'none median3+fake_a 2 0 0',
      'none fake_b 2 0 0',
      'fgsm fake_a 2 2 2',
      'fgsm median3+fake_a 2 2 2',
      'fgsm fake_b 2 0 0',
      'mi-fgsm+di+ti fake_a 2 2 2',
      'mi-fgsm+di+ti median3+fake_a 2 2 2',
      'mi-fgsm+di+ti fake_b 2 0 0',
    ],
  );
  // fake_a follows the attack: every attacked image hits its target there; fake_b never moves.
  const targetA = FAKE_LABELS[pickTarget(5, 'a.png', 2, 5)], targetB = FAKE_LABELS[pickTarget(5, 'b.png', 4, 5)];
  const perTarget = (method: string, defense: string) =>
    report.byTarget.filter((r) => r.method === method && r.defense === defense).map((r) => `${r.target} ${r.hits}/${r.n}`);
  const expectTargets = (hitA: number, hitB: number) =>
    targetA === targetB
      ? [`${targetA} ${hitA + hitB}/2`]
      : FAKE_LABELS.filter((l) => l === targetA || l === targetB).map((l) => (l === targetA ? `${l} ${hitA}/1` : `${l} ${hitB}/1`));
  t.same(perTarget('fgsm', 'fake_a'), expectTargets(1, 1), 'by target: fgsm on fake_a');
  t.same(perTarget('fgsm', 'fake_b'), expectTargets(0, 0), 'by target: fgsm on fake_b');
  t.same(perTarget('none', 'median3+fake_a'), expectTargets(0, 0), 'by target: no attack');
  t.equal(report.predictions.length, 2 * 3 * 3, 'one prediction per image, method and defense');
  t.match(report.predictions.find((p) => p.image === 'b.png' && p.method === 'fgsm' && p.defense === 'fake_a'), { label: targetB });
  t.match(report.predictions.find((p) => p.image === 'b.png' && p.method === 'fgsm' && p.defense === 'fake_b'), { label: 'Sexy' });
  // The fake engine gives the predicted class 0.6 and the others 0.1 each.
  t.equal(report.predictions.find((p) => p.image === 'b.png' && p.method === 'fgsm' && p.defense === 'fake_a')?.targetProb, 0.6, 'hit: the target is the top class');
  t.ok(Math.abs(report.predictions.find((p) => p.image === 'b.png' && p.method === 'none' && p.defense === 'fake_a')!.targetProb! - 0.1) < 1e-12, 'miss: the target keeps its share');
  t.same(Object.keys(report.secondsPerImage), ['none', 'fgsm', 'mi-fgsm+di+ti']);
  t.equal(report.secondsPerImage.none, 0);
  t.equal(engine.attackCalls.length, 4, 'two attacking methods x two images');
  t.match(engine.attackCalls[1].params, { method: 'mi-fgsm', di: true, ti: 7, eps: 8, iterations: 3, targeted: true, seed: 5, models: FAKE_MODELS });
  t.equal(engine.attackCalls[0].params.target, pickTarget(5, 'a.png', 2, 5));
  t.same(progress, ['1/6 a.png none', '2/6 a.png fgsm', '3/6 a.png mi-fgsm+di+ti', '4/6 b.png none', '5/6 b.png fgsm', '6/6 b.png mi-fgsm+di+ti']);

  const untargeted = await runEval(new PixelEngine(), inputs({ 'a.png': 90, 'b.png': 170 }), { ...settings, targeted: false, methods: parseMethodList('fgsm') });
  t.same(untargeted.rows.map((r) => `${r.defense} ${r.hits} ${r.misses}`), ['fake_a null 2', 'median3+fake_a null 2', 'fake_b null 0']);
  t.notOk(untargeted.meta.images.some((i) => 'target' in i));
  t.same(untargeted.byTarget, [], 'no per-target rows untargeted');
  t.notOk(untargeted.predictions.some((p) => 'targetProb' in p), 'no target probability untargeted');
});

t.test('targets: seeded, never the clean label, independent of the other files', async (t) => {
  for (let seed = 0; seed < 30; seed++) for (let clean = 0; clean < 5; clean++) t.not(pickTarget(seed, `img${seed}.png`, clean, 5), clean);
  const names = Array.from({ length: 12 }, (_, i) => `photo_${i}.jpg`);
  const draw = (seed: number) => names.map((n) => pickTarget(seed, n, 2, 5));
  t.same(draw(1), draw(1), 'same seed, same targets');
  t.notSame(draw(1), draw(2), 'another seed, other targets');
  t.ok(new Set(draw(1)).size > 1, 'not all the same');

  const settings = { eps: 4, iterations: 1, methods: parseMethodList('fgsm'), defenses: parseDefenseList('resize-pad+fake_a', FAKE_MODELS), targeted: true, seed: 9 };
  const one = new PixelEngine();
  const two = new PixelEngine();
  const a = await runEval(one, inputs({ 'x.png': 90, 'y.png': 170 }), settings);
  const b = await runEval(two, inputs({ 'w.png': 10, 'x.png': 90, 'y.png': 170 }), settings);
  t.same(a.meta.images, b.meta.images.slice(1), 'a file keeps its target when others are added');
  const padded = (e: PixelEngine) => e.classifyCalls.filter((c) => c.opts.models?.[0] === 'fake_a').map((c) => Buffer.from(c.image.rgb).toString('base64'));
  t.same(padded(one), padded(two).slice(1), 'and its resize-pad draw');
});

t.test('advserve eval: json, csv and markdown output, usage errors', async (t) => {
  const dir = t.testdir({});
  writeFileSync(join(dir, 'b.png'), await grey(170));
  writeFileSync(join(dir, 'a.png'), await grey(90));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  const io = () => {
    const out = { text: '', write: (s: string) => ((out.text += s), true) };
    const err = { text: '', write: (s: string) => ((err.text += s), true), isTTY: false };
    return { out, err };
  };
  const deps = (o: ReturnType<typeof io>) => ({ engine: async () => new PixelEngine(), stdout: o.out, stderr: o.err, now: () => new Date('2024-05-01T00:00:00Z') });
  const args = ['--images', dir, '--methods', 'fgsm', '--defenses', 'fake_a,fake_b', '--seed', '3', '--iterations', '2', '--eps', '8'];

  let o = io();
  t.equal(await evalCommand([...args, '--format', 'json'], deps(o)), 0, o.err.text);
  const doc = JSON.parse(o.out.text);
  t.same(doc.rows, [
    { method: 'fgsm', defense: 'fake_a', n: 2, hits: 2, misses: 2 },
    { method: 'fgsm', defense: 'fake_b', n: 2, hits: 0, misses: 0 },
  ]);
  t.type(doc.secondsPerImage.fgsm, 'number');
  t.match(doc.meta, { n: 2, eps: 8, iterations: 2, seed: 3, targeted: true, date: '2024-05-01T00:00:00.000Z' });
  t.equal(doc.meta.command, `advserve eval --images ${dir} --methods fgsm --defenses fake_a,fake_b --seed 3 --iterations 2 --eps 8 --format json`);
  t.same(doc.meta.images.map((i: { name: string }) => i.name), ['a.png', 'b.png'], 'images sorted, other files skipped');
  // Images run concurrently (--concurrency 4 by default): either may finish first.
  t.match(o.err.text, /eval 1\/2: [ab]\.png fgsm .*\neval 2\/2: [ab]\.png fgsm /, 'plain progress lines off a TTY');
  t.match(o.err.text, /: a\.png fgsm/);
  t.match(o.err.text, /: b\.png fgsm/);
  // Each line also says what the defenses saw, matching the report's counts (fake_a: 2 hits, fake_b: none).
  const lines = o.err.text.split('\n').filter((l) => l.startsWith('eval '));
  t.equal(lines.length, 2);
  for (const l of lines) {
    const target = /target (\w+) \|/.exec(l)?.[1];
    t.ok(target, `names the target: ${l}`);
    t.match(l, new RegExp(`fake_a: ${target} \\(hit\\)`), 'fake_a predicts the target: a hit');
    t.notMatch(l, /fake_b: \w+ \(hit\)/, 'fake_b never does');
  }

  o = io();
  const csv = join(dir, 'r.csv');
  t.equal(await evalCommand([...args, '--out', csv], deps(o)), 0);
  t.equal(o.out.text, '');
  t.match(readFileSync(csv, 'utf8'), /^method,defense,n,hits,misses,hit_rate,miss_rate,seconds_per_image\nfgsm,fake_a,2,2,2,1,1,/);

  o = io();
  t.equal(await evalCommand([...args, '--untargeted'], deps(o)), 0);
  t.match(o.out.text, /^# advserve eval: untargeted, eps 8, n = 2/);
  t.match(o.out.text, /\| fgsm +\| +–, 2 \| +–, 0 \|/);

  for (const bad of [[], ['--images', dir, '--targeted', '--untargeted'], ['--images', dir, '--methods', 'cw'], ['--images', dir, '--format', 'xml'], ['--images', dir, '--eps', '0'], ['--images', join(dir, 'nothing-here-')], ['--bogus']]) {
    o = io();
    const code = await evalCommand(bad, deps(o)).catch((e) => e);
    if (bad[1]?.endsWith('nothing-here-')) t.match(code, { code: 'ENOENT' }, 'missing folder: ENOENT for main() to report');
    else t.equal(code, 2, `${bad.join(' ')}: ${o.err.text.split('\n')[0]}`);
  }
  o = io();
  await t.rejects(evalCommand([...args.slice(0, 4), '--defenses', 'jpeg75+nope'], deps(o)), ApiError, 'unknown model: ApiError for main() (exit 2)');
  o = io();
  t.equal(await evalCommand(['--help'], deps(o)), 0);
  t.match(o.out.text, /usage: advserve eval --images DIR/);
});

t.test('progress: a redrawn bar on a TTY', async (t) => {
  let text = '';
  let now = 0;
  const p = progressReporter({ write: (s: string) => (text += s), isTTY: true, columns: 80 }, () => now);
  const step = { total: 4, method: 'fgsm', seconds: 1, clean: 'a', predictions: [] };
  now = 1000;
  p.update({ ...step, done: 1, image: 'a.png' });
  now = 1050;
  p.update({ ...step, done: 2, image: 'b.png' }); // throttled
  now = 4000;
  p.update({ ...step, done: 4, image: 'd.png' });
  const frames = text.split('\r').filter(Boolean);
  t.equal(frames.length, 2);
  t.match(frames[0], /^\[######-{18}\] 1\/4 25%  eta 3s  fgsm  a\.png\x1b\[K$/);
  t.match(frames[1], /^\[#{24}\] 4\/4 100% .*\n$/);
});

t.test('runEval: the report does not depend on how many images are attacked at once', async (t) => {
  const settings = {
    eps: 8,
    iterations: 3,
    methods: parseMethodList('fgsm,ifgsm'),
    defenses: parseDefenseList('fake_a,bits3+fake_b', FAKE_MODELS),
    targeted: true,
    seed: 2,
  };
  const pics = { 'a.png': 90, 'b.png': 170, 'c.png': 30, 'd.png': 220, 'e.png': 120 };
  const serial = await runEval(new PixelEngine(), inputs(pics), { ...settings, concurrency: 1 });
  const parallel = await runEval(new PixelEngine(), inputs(pics), { ...settings, concurrency: 3 });
  t.same(parallel.rows, serial.rows);
  t.same(parallel.meta.images, serial.meta.images);
});
