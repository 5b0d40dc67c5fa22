/**
 * Gaussian blur with standard deviation sigma (pixels): a separable kernel of radius
 * ceil(3 sigma), normalised to sum 1, edges by replication, rounded back to 8 bits once at the end.
 */
import type { RgbImage } from '../../images/types';
import { withRgb } from './types';

export function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

export function gaussianBlur(image: RgbImage, sigma: number): RgbImage {
  const { width: w, height: h } = image;
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const src = image.rgb;
  const tmp = new Float64Array(src.length);
  const out = new Uint8Array(src.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let i = -r; i <= r; i++) {
          const xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
          acc += k[i + r] * src[(y * w + xx) * 3 + c];
        }
        tmp[(y * w + x) * 3 + c] = acc;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let i = -r; i <= r; i++) {
          const yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
          acc += k[i + r] * tmp[(yy * w + x) * 3 + c];
        }
        out[(y * w + x) * 3 + c] = Math.min(255, Math.max(0, Math.round(acc)));
      }
    }
  }
  return withRgb(image, out);
}
