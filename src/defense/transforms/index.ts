/** The input transformations a defense spec may name, with their parameter defaults and ranges. */
import { reduceBits } from './bits';
import { gaussianBlur, gaussianKernel } from './blur';
import { jpegRoundTrip } from './jpeg';
import { SORT_MAX, medianFilter } from './median';
import { paddedSize, resizePad } from './resize-pad';
import type { TransformDef } from './types';

export type { TransformContext, TransformDef } from './types';

const MEGA = 1e6;

/**
 * Work units per megapixel of the median filter, fitted to timings on random pixels (its
 * slowest case): windows of up to 25 values are insertion-sorted (measured ~80 k^2 for k = 1..5);
 * larger ones slide a 256-bin histogram whose scan dominates, so the cost barely grows with k.
 */
export function medianCostPerMegapixel(window: number): number {
  return window * window <= SORT_MAX ? 80 * window * window : 600 + 10 * window;
}

const intIn = (lo: number, hi: number, what: string) => (p: number) =>
  Number.isInteger(p) && p >= lo && p <= hi ? undefined : `${what} must be an integer in [${lo}, ${hi}]`;

export const TRANSFORMS: Record<string, TransformDef> = {
  jpeg: {
    name: 'jpeg',
    defaultParam: 75,
    param: 'JPEG quality',
    check: intIn(1, 100, 'JPEG quality'),
    apply: (img, q) => jpegRoundTrip(img, q!),
    cost: (_q, px) => (100 * px) / MEGA,
  },
  bits: {
    name: 'bits',
    defaultParam: 3,
    param: 'bits kept per channel',
    check: intIn(1, 8, 'bit depth'),
    apply: async (img, b) => reduceBits(img, b!),
    cost: (_b, px) => (30 * px) / MEGA,
  },
  median: {
    name: 'median',
    defaultParam: 3,
    param: 'window size',
    check: intIn(1, 15, 'median window'),
    apply: async (img, w) => medianFilter(img, w!),
    cost: (w, px) => (medianCostPerMegapixel(w!) * px) / MEGA,
  },
  'resize-pad': {
    name: 'resize-pad',
    param: 'none',
    check: () => 'resize-pad takes no parameter',
    apply: async (img, _p, ctx) => resizePad(img, ctx.inputSize, ctx.random),
    // It reads only the pixels it keeps: the cost follows the padded output, not the input.
    cost: (_p, _px, out) => (30 * out) / MEGA,
    outPixels: (_px, inputSize) => {
      const { width, height } = paddedSize(inputSize);
      return width * height;
    },
  },
  blur: {
    name: 'blur',
    defaultParam: 1,
    param: 'Gaussian sigma in pixels',
    check: (s) => (s > 0 && s <= 20 ? undefined : 'blur sigma must be in (0, 20]'),
    apply: async (img, s) => gaussianBlur(img, s!),
    cost: (s, px) => ((80 + 13 * gaussianKernel(s!).length) * px) / MEGA,
  },
};

export const TRANSFORM_NAMES = Object.keys(TRANSFORMS);
