/**
 * End to end on ImageNet classifiers from ../shared, loaded as users load theirs (folders with
 * an advserve.json: a PyTorch ONNX export, TF-slim tfjs models with a background class, Darknet
 * with its own class order): classification lines up with onnxruntime's plain inference, a
 * one-step FGSM moves pixels against PyTorch's gradient sign, and `target=42` (agama) works on
 * an ensemble of trained models, eps-bounded after the PNG round trip.
 */
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadConfig } from '../../src/config';
import { createEngine } from '../../src/engine/bootstrap';
import { decodeImage } from '../../src/images/decode';
import { encodePng } from '../../src/images/encode';
import { onnxRuntime } from '../../src/models/onnx/net';
import { SHARED, makeSharedModelFolders } from '../../scripts/shared-models';

const log = { info: () => {}, warn: () => {}, error: (o: object, m: string) => console.error(m, o) };
const torchDir = join(SHARED, 'onnx/mobilenet_v2_torch_float');
const ort = onnxRuntime();

if (!existsSync(join(torchDir, 'model.onnx')) || !existsSync(join(SHARED, 'models/catalog.json'))) {
  t.comment(`skipped: ${SHARED} has no ImageNet models (the ONNX front end is tested on tiny models in test/net/onnx-import.test.ts)`);
} else {
  t.test('ImageNet models from folders: classify, FGSM against PyTorch\'s gradient sign, target=42 on a trained ensemble', async (t) => {
    const out = mkdtempSync(join(tmpdir(), 'advserve-imagenet-'));
    const dirs = makeSharedModelFolders(out);
    // The same trained network with a squash resize, so that a 224x224 image reaches it unchanged.
    const squash = join(out, 'torch_squash');
    const desc = JSON.parse(readFileSync(join(dirs.get('mobilenet_v2_torch_float')!, 'advserve.json'), 'utf8'));
    makeSharedModelFolders(out); // idempotent
    const { mkdirSync, symlinkSync } = await import('node:fs');
    mkdirSync(squash, { recursive: true });
    for (const f of ['model.onnx', 'labels.json', 'wnids.json']) if (!existsSync(join(squash, f))) symlinkSync(join(torchDir, f), join(squash, f));
    writeFileSync(join(squash, 'advserve.json'), JSON.stringify({ ...desc, id: 'torch_squash', resize: 'squash' }));
    const ids = ['mobilenet_v2_torch_float', 'mobilenet_v2_100_224_quant_hosted', 'darknet_tiny_224', 'mobilenet_v1_025_224_tfhub'];
    const started = Date.now();
    const engine = await createEngine(
      loadConfig({ ADVSERVE_BACKEND: 'wasm', ADVSERVE_MODELS: '', ADVSERVE_MODEL_DIRS: [...ids.map((id) => dirs.get(id)!), squash].join(','), ADVSERVE_WORKERS: '0' }),
      log,
    );
    t.teardown(() => engine.dispose());
    t.comment(`5 models loaded in ${Date.now() - started} ms`);
    const info = engine.listModels();
    t.same(info.map((m) => m.classes), [1000, 1000, 1000, 1000, 1000], 'every model presents 1000 classes (background dropped)');
    t.equal(info.find((m) => m.id === 'mobilenet_v2_torch_float')!.format, 'onnx');

    // A 224x224 image: PyTorch's own reference pixels of the cat photo.
    const pixels = readFileSync(join(torchDir, 'ref/cat-chelsea.pixels.u8.bin'));
    const png = await sharp(pixels, { raw: { width: 224, height: 224, channels: 3 } }).png().toBuffer();
    const image = await decodeImage(png, { maxPixels: 1e7 });

    const clean = await engine.classify(image, { topK: 5 });
    for (const m of clean.models) t.match(m.top[0].label, /cat/, `${m.id}: ${m.top[0].label} (${m.top[0].prob.toFixed(3)})`);
    if (ort) {
      const s = await ort.InferenceSession.create(join(torchDir, 'model.onnx'));
      const x = new Float32Array(3 * 224 * 224);
      const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
      for (let c = 0; c < 3; c++) for (let i = 0; i < 224 * 224; i++) x[c * 224 * 224 + i] = (pixels[i * 3 + c] / 255 - mean[c]) / std[c];
      const z = (await s.run({ input: new ort.Tensor('float32', x, [1, 3, 224, 224]) })).logits.data as Float32Array;
      await s.release();
      const m = Math.max(...z);
      const e = Array.from(z, (v) => Math.exp(v - m));
      const sum = e.reduce((a, b) => a + b, 0);
      const ref = e.map((v) => v / sum).map((p, i) => ({ i, p })).sort((a, b) => b.p - a.p).slice(0, 5);
      const ours = clean.models.find((mm) => mm.id === 'torch_squash')!.top;
      t.same(ours.map((o) => o.index), ref.map((r) => r.i), 'classify: the same top-5 classes as onnxruntime\'s plain inference');
      const worst = Math.max(...ours.map((o, k) => Math.abs(o.prob - ref[k].p) / ref[k].p));
      t.ok(worst < 0.01, `probabilities within 1% relative error (worst ${(worst * 100).toFixed(3)}%)`);
    }

    // One FGSM step of eps 1 towards class 42 descends PyTorch's class-42 loss: each pixel moves against its gradient's sign.
    const grad = new Float32Array(readFileSync(join(torchDir, 'ref/cat-chelsea.grad.f32.bin')).buffer.slice(0));
    const fgsm = await engine.attack(image, { method: 'fgsm', eps: 1, iterations: 1, targeted: true, target: 42, models: ['torch_squash'] });
    let agree = 0, moved = 0, strongAgree = 0, strong = 0, worst = 0;
    const gmax = grad.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < 224 * 224 * 3; i++) {
      const c = i % 3, p = Math.floor(i / 3);
      const g = grad[c * 224 * 224 + p]; // NCHW; d/dp = g / (255 std) has the same sign
      const d = fgsm.image.rgb[i] - image.rgb[i];
      if (d === 0 || g === 0) continue;
      moved++;
      const ok = Math.sign(d) === -Math.sign(g);
      if (ok) agree++;
      else worst = Math.max(worst, Math.abs(g) / gmax);
      // Gradients within float32 noise of 0 may take either sign in two implementations.
      if (Math.abs(g) > 1e-3 * gmax) {
        strong++;
        if (ok) strongAgree++;
      }
    }
    t.ok(moved > 0.9 * 224 * 224 * 3, `${moved} of ${224 * 224 * 3} values moved (the rest were at 0 or 255)`);
    t.equal(strongAgree, strong, `every moved value whose PyTorch gradient is above 1e-3 of the largest (${strong}) went against its sign`);
    t.ok(agree >= 0.9999 * moved, `all moved values: ${agree} of ${moved} against the sign (the others' |gradient| at most ${worst.toExponential(1)} of the largest)`);

    // target=42 on the trained ensemble (PyTorch ONNX + TF-slim tfjs + Darknet with its own class order).
    const photo = existsSync(join(SHARED, 'eval-images/photo_cat-chelsea.jpg')) ? readFileSync(join(SHARED, 'eval-images/photo_cat-chelsea.jpg')) : png;
    const cat = await decodeImage(photo, { maxPixels: 1e7 });
    const trained = ['mobilenet_v2_torch_float', 'mobilenet_v2_100_224_quant_hosted', 'darknet_tiny_224'];
    const adv = await engine.attack(cat, { method: 'mng-l1', eps: 16, iterations: 20, targeted: true, target: 42, models: trained });
    t.equal(adv.target.label, 'agama', 'class 42 is agama in every model');
    const back = await decodeImage(await encodePng(adv.image), { maxPixels: 1e7 });
    let linf = 0;
    for (let i = 0; i < back.rgb.length; i++) linf = Math.max(linf, Math.abs(back.rgb[i] - cat.rgb[i]));
    t.ok(linf <= 16 && linf > 0, `L-infinity after the PNG round trip: ${linf}`);
    const check = await engine.classify(back, { models: trained, topK: 1 });
    for (const m of check.models) t.equal(m.top[0].index, 42, `${m.id} classifies the PNG as ${m.top[0].label}`);
    t.comment(`target=42 attack: ${adv.elapsedMs} ms on ${cat.width}x${cat.height}`);
  });
}
