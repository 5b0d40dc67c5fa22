/**
 * The plain-loop preprocessing the onnxruntime passes use (src/models/pixel-pipeline.ts): its
 * forward map equals tfjs's preprocessImages, its back map equals tf.grad through it, and back
 * is the exact transpose of forward (<P x, y> = <x, P^T y>), for every kind of spec: squash
 * with either corner convention, centre crop, BGR with mean/std, with and without a
 * diverse-inputs draw, at sizes that shrink, enlarge and keep the image.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { preprocessImages } from '../../src/models/classifier';
import { PixelPipeline } from '../../src/models/pixel-pipeline';
import type { DiverseInput, ModelSpec } from '../../src/models/types';
import { useBackend } from '../support/tiny';

t.before(() => useBackend());

const spec = (s: Partial<ModelSpec>): ModelSpec => ({ alignCorners: false, ...s }) as ModelSpec;
const torchvision: Pick<ModelSpec, 'mean' | 'std'> = {
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};
const SPECS: Array<[string, ModelSpec]> = [
  ['squash, range [0, 1]', spec({ inputSize: [24, 20], inputRange: [0, 1] })],
  ['squash, range [-1, 1], align corners', spec({ inputSize: [30, 30], inputRange: [-1, 1], alignCorners: true })],
  ['centre crop, mean/std', spec({ inputSize: [16, 16], ...torchvision, resize: 'center-crop' })],
  [
    'centre crop 0.5, align corners',
    spec({
      inputSize: [12, 14],
      ...torchvision,
      resize: 'center-crop',
      cropFraction: 0.5,
      alignCorners: true,
    }),
  ],
  ['squash, BGR, mean/std', spec({ inputSize: [20, 28], ...torchvision, channelOrder: 'BGR' })],
];
const SIZES: Array<[number, number]> = [
  [37, 53],
  [24, 20],
  [11, 9],
];
const DIVERSE: Array<DiverseInput | undefined> = [undefined, { scale: 0.9, maxScale: 1.1, offsetY: 0.3, offsetX: 0.8 }, { scale: 1.1, maxScale: 1.1, offsetY: 0, offsetX: 0.99 }];

function seeded(n: number, seed: number, scale: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648) * scale;
  });
}

/** max |a - b| over max |b|. */
function relMax(a: Float32Array, b: Float32Array): number {
  let err = 0,
    scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

for (const [name, s] of SPECS) {
  t.test(name, async (t) => {
    const [h, w] = s.inputSize;
    for (const [H, W] of SIZES) {
      for (const [d, diverse] of DIVERSE.entries()) {
        const what = `${H}x${W}, draw ${d}`;
        const image = seeded(H * W * 3, H * 7 + W + d, 255);
        const seed = seeded(h * w * 3, d + 99, 2).map((v) => v - 1);
        const pipeline = new PixelPipeline(s, H, W, diverse);

        const x = new Float32Array(h * w * 3 + 5).fill(-7);
        pipeline.forward(image, x, 5);
        const ref = tf.tidy(() => preprocessImages(s, tf.tensor4d(image, [1, H, W, 3]), diverse).dataSync() as Float32Array);
        t.ok(relMax(x.subarray(5), ref) < 2e-5, `${what}: forward equals preprocessImages (${relMax(x.subarray(5), ref).toExponential(1)})`);
        t.same([...x.subarray(0, 5)], [-7, -7, -7, -7, -7], `${what}: writes only its own slot`);

        const g = pipeline.back(seed);
        const gRef = tf.tidy(
          () =>
            tf
              .grad((im) => preprocessImages(s, im as tf.Tensor4D, diverse))(tf.tensor4d(image, [1, H, W, 3]), tf.tensor4d(seed, [1, h, w, 3]))
              .dataSync() as Float32Array,
        );
        t.equal(g.length, H * W * 3, `${what}: gradient has the image's size`);
        t.ok(relMax(g, gRef) < 2e-5, `${what}: back equals tf.grad (${relMax(g, gRef).toExponential(1)})`);

        // Transpose: the affine's offset drops out of the difference of two forwards.
        const zero = new Float32Array(h * w * 3);
        pipeline.forward(new Float32Array(H * W * 3), zero);
        let lhs = 0,
          rhs = 0;
        for (let i = 0; i < seed.length; i++) lhs += (x[5 + i] - zero[i]) * seed[i];
        for (let i = 0; i < image.length; i++) rhs += image[i] * g[i];
        t.ok(Math.abs(lhs - rhs) <= 1e-5 * Math.abs(lhs) + 1e-6, `${what}: back is forward's transpose (${lhs.toFixed(4)} vs ${rhs.toFixed(4)})`);
      }
    }
  });
}

t.test("back into a caller's buffer: cleared first, the same bytes, the rest left alone", async (t) => {
  const s = SPECS[2][1];
  const pipeline = new PixelPipeline(s, 37, 53);
  const seed = seeded(16 * 16 * 3, 5, 1);
  const plain = pipeline.back(seed);
  const buffer = new Float32Array(plain.length + 4).fill(9);
  const into = pipeline.back(seed, buffer);
  t.equal(into, buffer, 'returns the buffer');
  t.same(Buffer.from(buffer.buffer, 0, plain.byteLength), Buffer.from(plain.buffer), 'same gradient bytes over stale values');
  t.same([...buffer.subarray(plain.length)], [9, 9, 9, 9], 'the room after the gradient untouched');
  t.throws(() => pipeline.back(seed, new Float32Array(plain.length - 1)), RangeError, 'a buffer too small is refused');
});
