/** The eval report formats from fixed rows. */
import t from 'tap';
import { formatCsv, formatFromPath, formatJson, formatMarkdown } from '../../src/eval/report';
import type { EvalReport } from '../../src/eval/run';

const report: EvalReport = {
  rows: [
    { method: 'fgsm', defense: 'mobilenet_v2', n: 4, hits: 1, misses: 3 },
    { method: 'fgsm', defense: 'jpeg75+mobilenet_v2_mid', n: 4, hits: 0, misses: 2 },
    { method: 'mi-fgsm+di+ti', defense: 'mobilenet_v2', n: 4, hits: 4, misses: 4 },
    { method: 'mi-fgsm+di+ti', defense: 'jpeg75+mobilenet_v2_mid', n: 4, hits: 3, misses: 4 },
  ],
  byTarget: [
    { method: 'fgsm', defense: 'mobilenet_v2', target: 'Drawing', n: 3, hits: 1 },
    { method: 'fgsm', defense: 'mobilenet_v2', target: 'Sexy', n: 1, hits: 0 },
    { method: 'fgsm', defense: 'jpeg75+mobilenet_v2_mid', target: 'Drawing', n: 3, hits: 0 },
    { method: 'fgsm', defense: 'jpeg75+mobilenet_v2_mid', target: 'Sexy', n: 1, hits: 0 },
    { method: 'mi-fgsm+di+ti', defense: 'mobilenet_v2', target: 'Drawing', n: 3, hits: 3 },
    { method: 'mi-fgsm+di+ti', defense: 'mobilenet_v2', target: 'Sexy', n: 1, hits: 1 },
    { method: 'mi-fgsm+di+ti', defense: 'jpeg75+mobilenet_v2_mid', target: 'Drawing', n: 3, hits: 3 },
  ],
  predictions: [{ image: 'a.png', method: 'fgsm', defense: 'mobilenet_v2', label: 'Drawing', prob: 0.5 }],
  secondsPerImage: { fgsm: 0.5, 'mi-fgsm+di+ti': 12.34 },
  meta: {
    command: 'advserve eval --images imgs --methods fgsm,mi-fgsm+di+ti',
    date: '2024-05-01T12:00:00.000Z',
    imagesDir: 'imgs',
    n: 4,
    eps: 16,
    iterations: 20,
    targeted: true,
    seed: 0,
    attackModels: ['mobilenet_v2'],
    labelModels: ['inception_v3', 'mobilenet_v2', 'mobilenet_v2_mid'],
    backend: 'wasm',
    images: [
      { name: 'a.png', label: 'Neutral', target: 'Drawing' },
      { name: 'b.jpg', label: 'Porn', target: 'Sexy' },
    ],
  },
};

t.test('markdown: the seed table (counts, then rates) with command, date, eps, n', async (t) => {
  const md = formatMarkdown(report);
  t.match(md, /^# advserve eval: targeted, eps 16, n = 4\n/);
  t.match(md, '- command: `advserve eval --images imgs --methods fgsm,mi-fgsm+di+ti`');
  t.match(md, '- date: 2024-05-01T12:00:00.000Z');
  t.match(md, 'eps 16 (0..255), 20 iterations (fgsm: 1), attack models mobilenet_v2');
  t.match(md, ['## images', '', '| image | clean label | target  |', '| ----- | ----------- | ------- |', '| a.png | Neutral     | Drawing |', '| b.jpg | Porn        | Sexy    |'].join('\n'));
  const lines = md.split('\n');
  const at = lines.indexOf('## hits, misses (of n = 4)');
  t.same(lines.slice(at + 2, at + 6), [
    '| method        | mobilenet_v2 | jpeg75+mobilenet_v2_mid | s/image |',
    '| ------------- | -----------: | ----------------------: | ------: |',
    '| fgsm          |         1, 3 |                    0, 2 |    0.50 |',
    '| mi-fgsm+di+ti |         4, 4 |                    3, 4 |    12.3 |',
  ]);
  const r = lines.indexOf('## hit rate, miss rate');
  t.same(lines.slice(r + 2, r + 6), [
    '| method        | mobilenet_v2 | jpeg75+mobilenet_v2_mid |',
    '| ------------- | -----------: | ----------------------: |',
    '| fgsm          |     25%, 75% |                 0%, 50% |',
    '| mi-fgsm+di+ti |   100%, 100% |               75%, 100% |',
  ]);
});

t.test('markdown, targeted: hits per target class, rows = (method, defense)', async (t) => {
  const lines = formatMarkdown(report).split('\n');
  const at = lines.indexOf('## hits by target class (hits/images with that target)');
  t.ok(at > 0, 'section present');
  t.same(lines.slice(at + 2, at + 8), [
    '| method        | defense                 | Drawing | Sexy |',
    '| ------------- | ----------------------- | ------: | ---: |',
    '| fgsm          | mobilenet_v2            |     1/3 |  0/1 |',
    '| fgsm          | jpeg75+mobilenet_v2_mid |     0/3 |  0/1 |',
    '| mi-fgsm+di+ti | mobilenet_v2            |     3/3 |  1/1 |',
    '| mi-fgsm+di+ti | jpeg75+mobilenet_v2_mid |     3/3 |      |',
  ]);
  t.notMatch(formatMarkdown({ ...report, byTarget: [] }), 'hits by target class', 'no section without per-target rows (untargeted)');
});

t.test('markdown: untargeted hits show as a dash', async (t) => {
  const untargeted: EvalReport = { ...report, byTarget: [], rows: report.rows.map((r) => ({ ...r, hits: null })), meta: { ...report.meta, targeted: false } };
  const md = formatMarkdown(untargeted);
  t.match(md, /^# advserve eval: untargeted/);
  t.match(md, '| fgsm          |         –, 3 |                    –, 2 |    0.50 |');
  t.match(md, '| fgsm          |       –, 75% |                  –, 50% |');
  t.same(formatMarkdown({ ...report, rows: [{ ...report.rows[0], n: 3, hits: 2, misses: 1 }] }).match(/66\.7%, 33\.3%/)?.length, 1, 'one decimal');
});

t.test('csv: one row per method and defense', async (t) => {
  t.equal(
    formatCsv(report),
    [
      'method,defense,n,hits,misses,hit_rate,miss_rate,seconds_per_image',
      'fgsm,mobilenet_v2,4,1,3,0.25,0.75,0.5',
      'fgsm,jpeg75+mobilenet_v2_mid,4,0,2,0,0.5,0.5',
      'mi-fgsm+di+ti,mobilenet_v2,4,4,4,1,1,12.34',
      'mi-fgsm+di+ti,jpeg75+mobilenet_v2_mid,4,3,4,0.75,1,12.34',
      '',
    ].join('\n'),
  );
  const untargeted = formatCsv({ ...report, rows: [{ ...report.rows[0], hits: null }] });
  t.equal(untargeted.split('\n')[1], 'fgsm,mobilenet_v2,4,,3,,0.75,0.5');
});

t.test('json: rows, byTarget, predictions, secondsPerImage, meta', async (t) => {
  const doc = JSON.parse(formatJson(report));
  t.same(doc.rows, report.rows);
  t.same(doc.byTarget, report.byTarget);
  t.same(doc.predictions, report.predictions);
  t.same(doc.secondsPerImage, report.secondsPerImage);
  t.same(doc.meta, report.meta);
});

t.test('format from the output file name', async (t) => {
  t.equal(formatFromPath('a/report.CSV'), 'csv');
  t.equal(formatFromPath('r.json'), 'json');
  t.equal(formatFromPath('r.md'), 'markdown');
  t.equal(formatFromPath(undefined), 'markdown');
});
