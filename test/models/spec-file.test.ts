/** advserve.json parsing: defaults, forms, class ordering, and one error message per bad field. */
import t, { Test } from 'tap';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFolderSpec } from '../../src/models/spec-file';

const SHARED = join(__dirname, '../../../shared');

/** A tmp model folder with the given files (objects are written as JSON) and advserve.json. */
function folder(t: Test, spec: unknown, files: Record<string, unknown> = { 'model.json': { format: 'layers-model' } }): string {
  const dir = mkdtempSync(join(tmpdir(), 'advserve-spec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  writeFileSync(join(dir, 'advserve.json'), typeof spec === 'string' ? spec : JSON.stringify(spec));
  return dir;
}

const BASE = { labels: ['cat', 'dog', 'fox'], inputSize: [16, 16], inputRange: [0, 1] };
const ONNX = { 'model.onnx': 'not really onnx' };

async function failure(dir: string): Promise<string> {
  try {
    await readFolderSpec(dir);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected readFolderSpec to fail');
}

t.test('an old-style tfjs spec: defaults', async (t) => {
  const dir = folder(t, BASE);
  const spec = await readFolderSpec(dir);
  t.same(spec, {
    id: spec.id,
    source: { kind: 'folder', path: dir },
    format: 'layers',
    file: 'model.json',
    inputSize: [16, 16],
    inputRange: [0, 1],
    layout: 'NHWC',
    channelOrder: 'RGB',
    resize: 'squash',
    labels: ['cat', 'dog', 'fox'],
    output: 'logits',
    endsInSoftmax: true,
    alignCorners: false,
  });
  t.match(spec.id, /^advserve-spec-/, 'id defaults to the folder name');
});

t.test('graph models, onnx models, mean/std, center-crop, BGR, probabilities', async (t) => {
  const graph = await readFolderSpec(folder(t, { ...BASE, id: 'g' }, { 'model.json': { format: 'graph-model' } }));
  t.equal(graph.format, 'graph');
  const dir = folder(
    t,
    { id: 'my_resnet', labels: ['a', 'b'], inputSize: [224, 224], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 'center-crop', channelOrder: 'BGR', output: 'probabilities', alignCorners: true },
    ONNX,
  );
  const spec = await readFolderSpec(dir);
  t.match(spec, { id: 'my_resnet', format: 'onnx', file: 'model.onnx', layout: 'NCHW', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 'center-crop', cropFraction: 0.875, channelOrder: 'BGR', output: 'probabilities', alignCorners: true });
  t.equal(spec.inputRange, undefined);
  const crop = await readFolderSpec(folder(t, { ...BASE, resize: 'center-crop', cropFraction: 1, layout: 'NHWC' }, ONNX));
  t.match(crop, { cropFraction: 1, layout: 'NHWC' });
  const named = await readFolderSpec(folder(t, { ...BASE, file: 'net.onnx' }, { 'net.onnx': 'x', 'model.json': {} }));
  t.match(named, { file: 'net.onnx', format: 'onnx' });
});

t.test('labels and classIds from files; classes sorted by classId with an outputMap', async (t) => {
  const dir = folder(t, { ...BASE, labels: 'labels.json', classIds: 'ids.json' }, {
    'model.json': {},
    'labels.json': ['zebra', 'ant', 'moth'],
    'ids.json': ['n3', 'n1', 'n2'],
  });
  const spec = await readFolderSpec(dir);
  t.same(spec.labels, ['ant', 'moth', 'zebra']);
  t.same(spec.classIds, ['n1', 'n2', 'n3']);
  t.same(spec.outputMap, [1, 2, 0]);
  const sorted = await readFolderSpec(folder(t, { ...BASE, classIds: ['a', 'b', 'c'] }));
  t.equal(sorted.outputMap, undefined, 'identity map omitted');
});

t.test('background: with or without the background entry in the lists', async (t) => {
  const withEntry = await readFolderSpec(folder(t, { ...BASE, labels: ['background', 'b', 'a'], classIds: ['background', 'n2', 'n1'], background: true }));
  t.same(withEntry.labels, ['a', 'b']);
  t.same(withEntry.classIds, ['n1', 'n2']);
  t.same(withEntry.outputMap, [2, 1], 'network output 0 is background');
  const without = await readFolderSpec(folder(t, { ...BASE, labels: ['x', 'y'], background: true }));
  t.same(without.labels, ['x', 'y']);
  t.same(without.outputMap, [1, 2]);
});

t.test('each bad field is named in the error', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['unknown field', { ...BASE, inputrange: [0, 1] }, /field "inputrange": unknown field \(known: id, file, labels/],
    ['id', { ...BASE, id: 'my net' }, /field "id": must be a string of letters/],
    ['file extension', { ...BASE, file: 'model.pt' }, /field "file": must name a \.onnx or \.json file/],
    ['file missing', { ...BASE, file: 'other.json' }, /field "file": "other\.json" not found/],
    ['file outside', { ...BASE, file: '../x.json' }, /field "file": "\.\.\/x\.json" must name a file inside the model folder/],
    ['labels type', { ...BASE, labels: [1, 2] }, /field "labels": must be an array of at least 2 strings/],
    ['labels too few', { ...BASE, labels: ['one'] }, /field "labels": has 1 class\(es\)/],
    ['labels missing', { inputSize: [16, 16], inputRange: [0, 1] }, /field "labels": is required/],
    ['labels file missing', { ...BASE, labels: 'labels.json' }, /field "labels": file "labels\.json" not found/],
    ['classIds type', { ...BASE, classIds: [1, 2, 3] }, /field "classIds": must be an array of strings/],
    ['background', { ...BASE, background: 'yes' }, /field "background": must be true or false/],
    ['inputSize', { ...BASE, inputSize: [16, 0] }, /field "inputSize": must be \[height, width\]/],
    ['inputSize float', { ...BASE, inputSize: [16.5, 16] }, /field "inputSize": must be \[height, width\]/],
    ['layout', { ...BASE, layout: 'CHW' }, /field "layout": must be "NCHW" or "NHWC"/],
    ['channelOrder', { ...BASE, channelOrder: 'rgb' }, /field "channelOrder": must be "RGB" or "BGR"/],
    ['inputRange order', { ...BASE, inputRange: [1, 0] }, /field "inputRange": must be \[low, high\] with low < high/],
    ['inputRange shape', { ...BASE, inputRange: [0] }, /field "inputRange": must be \[low, high\]/],
    ['mean', { ...BASE, inputRange: undefined, mean: [0.5, 0.5], std: [1, 1, 1] }, /field "mean": must be 3 numbers/],
    ['std', { ...BASE, inputRange: undefined, mean: [0.5, 0.5, 0.5], std: [1, 0, 1] }, /field "std": must be 3 positive numbers/],
    ['resize', { ...BASE, resize: 'crop' }, /field "resize": must be "squash" or "center-crop"/],
    ['cropFraction range', { ...BASE, resize: 'center-crop', cropFraction: 1.5 }, /field "cropFraction": must be a number in \(0, 1\]/],
    ['alignCorners', { ...BASE, alignCorners: 1 }, /field "alignCorners": must be true or false/],
    ['output', { ...BASE, output: 'softmax' }, /field "output": must be "logits" or "probabilities"/],
    // Contradictory combinations.
    ['inputRange with mean', { ...BASE, mean: [0.5, 0.5, 0.5], std: [1, 1, 1] }, /field "inputRange": give either inputRange or mean and std, not both; field "mean"/],
    ['mean without std', { ...BASE, inputRange: undefined, mean: [0.5, 0.5, 0.5] }, /field "std": mean needs std too/],
    ['no scaling', { ...BASE, inputRange: undefined }, /field "inputRange": the input scaling is missing/],
    ['cropFraction without center-crop', { ...BASE, cropFraction: 0.9 }, /field "cropFraction": only applies with "resize": "center-crop"/],
    ['NCHW on a tfjs model', { ...BASE, layout: 'NCHW' }, /field "layout": a tfjs model \(model\.json\) takes NHWC/],
    ['classIds length', { ...BASE, classIds: ['a', 'b'] }, /field "classIds": has 2 entries but labels has 3/],
    ['duplicate classIds', { ...BASE, classIds: ['a', 'b', 'a'] }, /field "classIds": must be unique; repeated: "a" \(entries 0 and 2\)/],
  ];
  for (const [name, spec, pattern] of cases) {
    const dir = folder(t, spec);
    const message = await failure(dir);
    t.match(message, pattern, name);
    t.ok(message.startsWith(join(dir, 'advserve.json') + ': '), `${name}: names the file`);
  }
});

t.test('several problems come in one error', async (t) => {
  const message = await failure(folder(t, { labels: ['a', 'b'], inputSize: [1], mean: [1], std: 'x', colour: 'RGB' }));
  for (const f of ['inputSize', 'mean', 'std', 'colour']) t.match(message, new RegExp(`field "${f}"`));
  t.equal(message.split('; field').length, 4, 'four problems, one each');
});

t.test('the model file: neither or both', async (t) => {
  t.match(await failure(folder(t, BASE, {})), /field "file": no model\.onnx or model\.json in the folder/);
  t.match(await failure(folder(t, BASE, { 'model.json': {}, 'model.onnx': 'x' })), /field "file": both model\.onnx and model\.json/);
  t.match(await failure(folder(t, '{ not json')), /advserve\.json: cannot read it/);
});

t.test('ImageNet models in /work/shared come out in the standard class order', async (t) => {
  if (!existsSync(join(SHARED, 'models')) || !existsSync(join(SHARED, 'onnx'))) {
    t.comment(`skipped: ../shared absent (${SHARED}); the ImageNet class-order check needs it`);
    return;
  }
  const standard = JSON.parse(readFileSync(join(SHARED, 'onnx/mobilenet_v2_torch_float/wnids.json'), 'utf8')) as string[];
  const standardLabels = JSON.parse(readFileSync(join(SHARED, 'onnx/mobilenet_v2_torch_float/labels.json'), 'utf8')) as string[];
  // The spec must sit in the model's folder and shared is read-only: copy the small files.
  const copy = (name: string, spec: object) => {
    const dir = folder(t, spec, {});
    for (const f of ['labels.json', 'wnids.json', 'model.json']) copyFileSync(join(SHARED, 'models', name, f), join(dir, f));
    return dir;
  };
  const common = { labels: 'labels.json', classIds: 'wnids.json', inputSize: [224, 224], inputRange: [0, 1] };
  const darknet = await readFolderSpec(copy('darknet_tiny_224', { id: 'darknet_tiny_224', ...common }));
  const v1 = await readFolderSpec(copy('mobilenet_v1_025_128_quant', { id: 'mobilenet_v1_025_128_quant', ...common, inputSize: [128, 128], inputRange: [-1, 1], background: true, output: 'probabilities' }));
  t.same(darknet.classIds, standard, 'darknet: own order -> standard order');
  t.same(v1.classIds, standard, 'mobilenet v1 quant: 1001 with background -> standard 1000');
  t.equal(v1.labels.length, 1000);
  // The label strings are the torch export's (one spelling differs: "jellyfish" / "jelly fish").
  t.ok(v1.labels.filter((l, k) => l === standardLabels[k]).length >= 999, 'labels line up with the torch export');
  t.same(v1.outputMap, standard.map((_, k) => k + 1), 'standard class k reads output k + 1');
  // Darknet's labels are short names; each presented label belongs to its wnid.
  const ownLabels = JSON.parse(readFileSync(join(SHARED, 'models/darknet_tiny_224/labels.json'), 'utf8')) as string[];
  const ownIds = JSON.parse(readFileSync(join(SHARED, 'models/darknet_tiny_224/wnids.json'), 'utf8')) as string[];
  darknet.classIds!.forEach((id, j) => {
    if (ownLabels[ownIds.indexOf(id)] !== darknet.labels[j] || darknet.outputMap![j] !== ownIds.indexOf(id)) t.fail(`class ${j} (${id}) misplaced`);
  });
  t.equal(darknet.labels[standard.indexOf('n02119789')], 'kit fox');
  t.equal(darknet.outputMap![standard.indexOf('n02119789')], 0, 'kit fox is darknet output 0');
});
