/** Each defense transform on tiny images: hand-computed results (bits, median) or properties. */
import t from 'tap';
import sharp from 'sharp';
import { seededRandom } from '../../src/engine/random';
import type { RgbImage } from '../../src/images/types';
import { bitDepthTable, reduceBits } from '../../src/defense/transforms/bits';
import { gaussianBlur, gaussianKernel } from '../../src/defense/transforms/blur';
import { jpegRoundTrip } from '../../src/defense/transforms/jpeg';
import { medianFilter } from '../../src/defense/transforms/median';
import { planResizePad, resizePad } from '../../src/defense/transforms/resize-pad';

/** An image whose three channels are given as row-major planes. */
function planes(width: number, height: number, r: number[], g = r, b = r): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    rgb[i * 3] = r[i];
    rgb[i * 3 + 1] = g[i];
    rgb[i * 3 + 2] = b[i];
  }
  return { width, height, rgb };
}
const channel = (img: RgbImage, c: number) => Array.from({ length: img.width * img.height }, (_, i) => img.rgb[i * 3 + c]);

function randomImage(width: number, height: number, seed: number): RgbImage {
  const rnd = seededRandom(seed);
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.floor(rnd() * 256);
  return { width, height, rgb };
}

t.test('bits: the feature-squeezing formula, by hand', async (t) => {
  const img = planes(3, 2, [0, 18, 19, 100, 200, 255], [127, 128, 64, 191, 192, 1], [0, 0, 0, 0, 0, 0]);
  const three = reduceBits(img, 3);
  // round(x/255*7)/7*255, rounded: 18 -> 0, 19 -> 36, 100 -> 109, 200 -> 182
  t.same(channel(three, 0), [0, 0, 36, 109, 182, 255]);
  const one = reduceBits(img, 1);
  t.same(channel(one, 1), [0, 255, 0, 255, 255, 0], 'one bit: threshold at 127.5');
  t.same([...bitDepthTable(8)], Array.from({ length: 256 }, (_, i) => i), '8 bits is the identity');
  t.equal(new Set(bitDepthTable(3)).size, 8, '3 bits: 8 levels');
  t.equal(three.width, 3);
  t.equal(three.height, 2);
});

t.test('median 3x3: edges by replication, by hand', async (t) => {
  const img = planes(3, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9], [9, 9, 9, 9, 0, 9, 9, 9, 9], [5, 5, 5, 5, 5, 5, 5, 5, 255]);
  const out = medianFilter(img, 3);
  t.same(channel(out, 0), [2, 3, 3, 4, 5, 6, 7, 7, 8]);
  t.same(channel(out, 1), [9, 9, 9, 9, 9, 9, 9, 9, 9], 'a single dark pixel is removed');
  // bottom-right corner: its window holds the 255 four times (replicated) out of 9 -> still 5
  t.same(channel(out, 2), [5, 5, 5, 5, 5, 5, 5, 5, 5], 'a bright corner pixel is removed');
  t.same(channel(medianFilter(img, 1), 0), channel(img, 0), 'window 1 is the identity');
});

t.test('median: even window (scipy placement) and the histogram path agree with a brute-force reference', async (t) => {
  const reference = (img: RgbImage, w: number) => {
    const out = new Uint8Array(img.rgb.length);
    const lo = -Math.floor(w / 2);
    const cl = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++)
        for (let c = 0; c < 3; c++) {
          const vals: number[] = [];
          for (let dy = lo; dy < lo + w; dy++) for (let dx = lo; dx < lo + w; dx++) vals.push(img.rgb[(cl(y + dy, img.height) * img.width + cl(x + dx, img.width)) * 3 + c]);
          vals.sort((a, b) => a - b);
          out[(y * img.width + x) * 3 + c] = vals[Math.floor(vals.length / 2)];
        }
    return out;
  };
  const img = randomImage(13, 9, 7);
  for (const w of [2, 3, 4, 5, 6, 7, 9]) t.same([...medianFilter(img, w).rgb], [...reference(img, w)], `window ${w}`);
  // 2x2 by hand on a 2x2 image: window rows/cols i-1..i, rank 2 of 4 (the upper middle value)
  const tiny = planes(2, 2, [10, 20, 30, 40]);
  t.same(channel(medianFilter(tiny, 2), 0), [10, 20, 30, 30]);
});

t.test('jpeg: the output decodes to the same size and stays close to a smooth input', async (t) => {
  const w = 24;
  const h = 16;
  const r = Array.from({ length: w * h }, (_, i) => (i % w) * 8);
  const g = Array.from({ length: w * h }, (_, i) => Math.floor(i / w) * 12);
  const img = planes(w, h, r, g, r.map(() => 128));
  for (const q of [10, 75, 100]) {
    const out = await jpegRoundTrip(img, q);
    t.equal(out.width, w);
    t.equal(out.height, h);
    t.equal(out.rgb.length, w * h * 3);
    let diff = 0;
    for (let i = 0; i < out.rgb.length; i++) diff += Math.abs(out.rgb[i] - img.rgb[i]);
    t.ok(diff / out.rgb.length < (q === 10 ? 20 : 6), `quality ${q}: mean abs change ${(diff / out.rgb.length).toFixed(2)}`);
    // and it is what a JPEG of that quality decodes to
    const jpeg = await sharp(Buffer.from(img.rgb), { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: q }).toBuffer();
    t.same((await sharp(jpeg).metadata()).format, 'jpeg');
    t.same([...out.rgb], [...(await sharp(jpeg).removeAlpha().raw().toBuffer())], `quality ${q}: same bytes as a sharp round trip`);
  }
  const withAlpha = { ...img, alpha: new Uint8Array(w * h).fill(7) };
  t.equal((await jpegRoundTrip(withAlpha, 75)).alpha, withAlpha.alpha, 'alpha passed through');
});

t.test('resize-pad: output size, the content inside, seeded', async (t) => {
  const w = 40;
  const h = 30;
  // every value >= 1, so the zero padding is distinguishable from content
  const img = planes(w, h, Array.from({ length: w * h }, (_, i) => 1 + (i % 250)), Array.from({ length: w * h }, (_, i) => 1 + ((i * 7) % 250)));
  for (const [size, padded, lo, hi] of [[299, 331, 310, 330], [224, 248, 232, 248]] as const) {
    for (let seed = 0; seed < 20; seed++) {
      const out = resizePad(img, [size, size], seededRandom(seed));
      const plan = planResizePad([size, size], seededRandom(seed));
      t.equal(out.width, padded);
      t.equal(out.height, padded);
      t.ok(plan.width >= lo && plan.width < hi && plan.height === plan.width, `content size ${plan.width} in [${lo}, ${hi})`);
      // the non-zero bounding box is exactly the planned content rectangle ...
      let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
      for (let y = 0; y < out.height; y++)
        for (let x = 0; x < out.width; x++)
          if (out.rgb[(y * out.width + x) * 3] !== 0) {
            x0 = Math.min(x0, x);
            y0 = Math.min(y0, y);
            x1 = Math.max(x1, x);
            y1 = Math.max(y1, y);
          }
      t.same([x0, y0, x1 - x0 + 1, y1 - y0 + 1], [plan.left, plan.top, plan.width, plan.height], `seed ${seed}: content at its offset`);
      // ... and holds the original, nearest-neighbour scaled: its corners are the original's corners
      const at = (im: RgbImage, x: number, y: number) => [...im.rgb.subarray((y * im.width + x) * 3, (y * im.width + x) * 3 + 3)];
      t.same(at(out, x0, y0), at(img, 0, 0));
      t.same(at(out, x1, y1), at(img, w - 1, h - 1));
      t.same(at(out, x1, y0), at(img, w - 1, 0));
    }
  }
  const a = resizePad(img, [299, 299], seededRandom(5));
  const b = resizePad(img, [299, 299], seededRandom(5));
  t.same(Buffer.from(a.rgb), Buffer.from(b.rgb), 'same seed, same bytes');
  const plans = new Set(Array.from({ length: 10 }, (_, s) => JSON.stringify(planResizePad([299, 299], seededRandom(s)))));
  t.ok(plans.size > 5, 'different seeds, different draws');
});

t.test('blur: a constant image stays constant; an impulse spreads symmetrically', async (t) => {
  const flat = planes(9, 7, Array(63).fill(200), Array(63).fill(3), Array(63).fill(255));
  for (const sigma of [0.5, 1.5, 4]) t.same([...gaussianBlur(flat, sigma).rgb], [...flat.rgb], `sigma ${sigma}`);
  const k = gaussianKernel(1.5);
  t.equal(k.length, 11);
  t.ok(Math.abs(k.reduce((a, b) => a + b, 0) - 1) < 1e-12, 'kernel sums to 1');
  const impulse = planes(9, 9, Array.from({ length: 81 }, (_, i) => (i === 40 ? 255 : 0)));
  const out = channel(gaussianBlur(impulse, 1), 0);
  t.ok(out[40] < 255 && out[40] > 0, 'the peak is lowered');
  t.equal(out[39], out[41]);
  t.equal(out[31], out[49]);
  t.equal(out[39], out[31], 'isotropic');
});
