/** The input transformations a defense spec may name, with their parameter defaults and ranges. */
import { reduceBits } from './bits';
import { gaussianBlur } from './blur';
import { jpegRoundTrip } from './jpeg';
import { medianFilter } from './median';
import { resizePad } from './resize-pad';
import type { TransformDef } from './types';

export type { TransformContext, TransformDef } from './types';

const intIn = (lo: number, hi: number, what: string) => (p: number) =>
  Number.isInteger(p) && p >= lo && p <= hi ? undefined : `${what} must be an integer in [${lo}, ${hi}]`;

export const TRANSFORMS: Record<string, TransformDef> = {
  jpeg: {
    name: 'jpeg',
    defaultParam: 75,
    param: 'JPEG quality',
    check: intIn(1, 100, 'JPEG quality'),
    apply: (img, q) => jpegRoundTrip(img, q!),
  },
  bits: {
    name: 'bits',
    defaultParam: 3,
    param: 'bits kept per channel',
    check: intIn(1, 8, 'bit depth'),
    apply: async (img, b) => reduceBits(img, b!),
  },
  median: {
    name: 'median',
    defaultParam: 3,
    param: 'window size',
    check: intIn(1, 15, 'median window'),
    apply: async (img, w) => medianFilter(img, w!),
  },
  'resize-pad': {
    name: 'resize-pad',
    param: 'none',
    check: () => 'resize-pad takes no parameter',
    apply: async (img, _p, ctx) => resizePad(img, ctx.inputSize, ctx.random),
  },
  blur: {
    name: 'blur',
    defaultParam: 1,
    param: 'Gaussian sigma in pixels',
    check: (s) => (s > 0 && s <= 20 ? undefined : 'blur sigma must be in (0, 20]'),
    apply: async (img, s) => gaussianBlur(img, s!),
  },
};

export const TRANSFORM_NAMES = Object.keys(TRANSFORMS);
