/** GET /v1/models' description of a spec: the new fields, from a bundled spec and from advserve.json. */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from '../../src/models/describe';
import { readFolderSpec } from '../../src/models/spec-file';
import { BUNDLED_MODELS } from '../../src/models/table';

t.test('a bundled model', async (t) => {
  const info = describe(BUNDLED_MODELS[0], 'wasm');
  t.match(info, { id: 'inception_v3', classes: 5, inputRange: [0, 1], layout: 'NHWC', channelOrder: 'RGB', resize: 'squash', format: 'layers', quantization: 'none', source: 'nsfwjs:InceptionV3', backend: 'wasm' });
  t.notOk('classIds' in info || 'mean' in info || 'cropFraction' in info);
});

t.test('an ONNX folder with mean/std, center-crop and class ids', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'advserve-describe-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'model.onnx'), 'x');
  writeFileSync(
    join(dir, 'advserve.json'),
    JSON.stringify({ id: 'r', labels: ['b', 'a'], classIds: ['n2', 'n1'], inputSize: [224, 224], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 'center-crop', channelOrder: 'BGR' }),
  );
  const spec = await readFolderSpec(dir);
  const info = describe({ ...spec, quantization: 'dequantized' }, 'onnx');
  t.same(info, {
    id: 'r',
    labels: ['a', 'b'],
    classIds: ['n1', 'n2'],
    classes: 2,
    inputSize: [224, 224],
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    layout: 'NCHW',
    channelOrder: 'BGR',
    resize: 'center-crop',
    cropFraction: 0.875,
    format: 'onnx',
    quantization: 'dequantized',
    source: `folder:${dir}`,
    backend: 'onnx',
  });
});
