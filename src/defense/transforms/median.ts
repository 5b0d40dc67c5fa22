/**
 * Median filter (Xu et al. 2018, "Feature Squeezing"), per channel, w x w window, edges by
 * replication (the nearest edge pixel stands in for pixels outside the image). An even w takes
 * scipy.ndimage's window placement, rows/columns i - w/2 .. i + w/2 - 1, and its rank w*w/2
 * (the upper of the two middle values).
 */
import type { RgbImage } from '../../images/types';
import { withRgb } from './types';

/** Windows up to this many values are sorted; larger ones use a sliding histogram (Huang 1979). */
export const SORT_MAX = 25;

export function medianFilter(image: RgbImage, window: number): RgbImage {
  const { width: w, height: h } = image;
  const src = image.rgb;
  const out = new Uint8Array(src.length);
  const lo = -Math.floor(window / 2);
  const hi = lo + window - 1;
  const n = window * window;
  const rank = Math.floor(n / 2);
  const clampX = (x: number) => (x < 0 ? 0 : x >= w ? w - 1 : x);
  const clampY = (y: number) => (y < 0 ? 0 : y >= h ? h - 1 : y);

  if (n <= SORT_MAX) {
    const buf = new Uint8Array(n);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          let k = 0;
          for (let dy = lo; dy <= hi; dy++) {
            const row = clampY(y + dy) * w;
            for (let dx = lo; dx <= hi; dx++) {
              // insertion sort while gathering
              const v = src[(row + clampX(x + dx)) * 3 + c];
              let j = k++;
              while (j > 0 && buf[j - 1] > v) {
                buf[j] = buf[j - 1];
                j--;
              }
              buf[j] = v;
            }
          }
          out[(y * w + x) * 3 + c] = buf[rank];
        }
      }
    }
    return withRgb(image, out);
  }

  const hist = new Int32Array(256);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) {
      hist.fill(0);
      // window centred at x = 0: columns lo..hi
      for (let dy = lo; dy <= hi; dy++) {
        const row = clampY(y + dy) * w;
        for (let dx = lo; dx <= hi; dx++) hist[src[(row + clampX(dx)) * 3 + c]]++;
      }
      for (let x = 0; x < w; x++) {
        if (x > 0) {
          const drop = clampX(x - 1 + lo);
          const add = clampX(x + hi);
          for (let dy = lo; dy <= hi; dy++) {
            const row = clampY(y + dy) * w;
            hist[src[(row + drop) * 3 + c]]--;
            hist[src[(row + add) * 3 + c]]++;
          }
        }
        let seen = 0;
        let v = 0;
        for (; v < 256; v++) {
          seen += hist[v];
          if (seen > rank) break;
        }
        out[(y * w + x) * 3 + c] = v;
      }
    }
  }
  return withRgb(image, out);
}
