/**
 * The model's preprocessing (see preprocessImages in ./classifier) as plain loops over one
 * [H, W, 3] image, with its adjoint: what the onnxruntime passes run instead of tfjs ops.
 *
 * Why: per pass and image, tfjs's resize, slice, pad and their gradients (tf.grad) cost 12-30 ms
 * of a worker's time on the wasm backend, most of it copying whole images between kernels;
 * these loops read each input value a few times and write each output once (about 2 ms for both ways).
 *
 * Same map as preprocessImages, computed in a fixed order: crop and resize in pixel space
 * (tfjs's bilinear convention, half-pixel centres off), diverse-inputs pad with pixel 0, then
 * channel order and the affine to the network's range. By linearity of the resize this equals
 * the tfjs order up to float rounding; the tests hold the two within 2e-5 of each other.
 */
import { centerCropBox, diverseBox, pixelAffine } from './classifier';
import type { DiverseInput, ModelSpec } from './types';

/** One stage's image size. */
interface Size {
  h: number;
  w: number;
}

/** A stage maps an image of size `from` to one of size `to`; `back` is its adjoint (transpose), into a zero-filled `out`. */
interface Stage {
  from: Size;
  to: Size;
  forward(src: Float32Array, dst: Float32Array, dstOffset: number): void;
  back(grad: Float32Array, out: Float32Array): void;
}

/** tfjs's source coordinate for output index i (ResizeBilinear, halfPixelCenters false): floor, ceil, fraction. */
function axisTable(from: number, to: number, alignCorners: boolean, first: number, count: number): { lo: Int32Array; hi: Int32Array; frac: Float64Array } {
  const ratio = alignCorners && to > 1 ? (from - 1) / (to - 1) : from / to;
  const lo = new Int32Array(count), hi = new Int32Array(count), frac = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const src = ratio * (first + i);
    const floor = Math.max(0, Math.floor(src));
    lo[i] = floor;
    hi[i] = Math.min(from - 1, Math.ceil(src));
    frac[i] = src - floor;
  }
  return { lo, hi, frac };
}

/**
 * Bilinear resize of `from` to `full`, keeping only the window of size `to` at (top, left) of
 * the result: a centre crop costs no more than its window. forward and back walk the same taps
 * in the same loop nest, written out twice on purpose: one shared walker calling back per pixel
 * made the forward about twice as slow (1.2-1.9 against 2.8-3.9 ms for a 224x224 centre crop).
 */
function resizeStage(from: Size, full: Size, to: Size, top: number, left: number, alignCorners: boolean): Stage {
  const rows = axisTable(from.h, full.h, alignCorners, top, to.h);
  const cols = axisTable(from.w, full.w, alignCorners, left, to.w);
  const rowStride = from.w * 3;
  return {
    from,
    to,
    forward(src, dst, dstOffset) {
      let o = dstOffset;
      for (let r = 0; r < to.h; r++) {
        const top = rows.lo[r] * rowStride, bottom = rows.hi[r] * rowStride, fr = rows.frac[r];
        for (let c = 0; c < to.w; c++) {
          const l = cols.lo[c] * 3, rt = cols.hi[c] * 3, fc = cols.frac[c];
          for (let d = 0; d < 3; d++) {
            const tl = src[top + l + d], tr = src[top + rt + d], bl = src[bottom + l + d], br = src[bottom + rt + d];
            const upper = tl + (tr - tl) * fc;
            const lower = bl + (br - bl) * fc;
            dst[o++] = upper + (lower - upper) * fr;
          }
        }
      }
    },
    back(grad, out) {
      let i = 0;
      for (let r = 0; r < to.h; r++) {
        const top = rows.lo[r] * rowStride, bottom = rows.hi[r] * rowStride, fr = rows.frac[r];
        for (let c = 0; c < to.w; c++) {
          const l = cols.lo[c] * 3, rt = cols.hi[c] * 3, fc = cols.frac[c];
          for (let d = 0; d < 3; d++) {
            const g = grad[i++];
            const gUpper = g * (1 - fr), gLower = g * fr;
            out[top + l + d] += gUpper * (1 - fc);
            out[top + rt + d] += gUpper * fc;
            out[bottom + l + d] += gLower * (1 - fc);
            out[bottom + rt + d] += gLower * fc;
          }
        }
      }
    },
  };
}

/** Places the image at (top, left) on a canvas of size `to` filled with `value`. */
function padStage(from: Size, to: Size, top: number, left: number, value: number): Stage {
  return {
    from,
    to,
    forward(src, dst, dstOffset) {
      dst.fill(value, dstOffset, dstOffset + to.h * to.w * 3);
      for (let r = 0; r < from.h; r++) dst.set(src.subarray(r * from.w * 3, (r + 1) * from.w * 3), dstOffset + ((top + r) * to.w + left) * 3);
    },
    back(grad, out) {
      for (let r = 0; r < from.h; r++) out.set(grad.subarray(((top + r) * to.w + left) * 3, ((top + r) * to.w + left + from.w) * 3), r * from.w * 3);
    },
  };
}

/** Channel order and the per-channel affine to the network's range, in place of size. */
function channelStage(size: Size, spec: ModelSpec): Stage {
  const { scale, offset } = pixelAffine(spec);
  const source = spec.channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const n = size.h * size.w * 3;
  return {
    from: size,
    to: size,
    forward(src, dst, dstOffset) {
      for (let i = 0; i < n; i += 3) for (let c = 0; c < 3; c++) dst[dstOffset + i + c] = src[i + source[c]] * scale[c] + offset[c];
    },
    back(grad, out) {
      for (let i = 0; i < n; i += 3) for (let c = 0; c < 3; c++) out[i + source[c]] = grad[i + c] * scale[c];
    },
  };
}

/** The resize from the user's image to the model's size, or torchvision's resize + centre crop. */
function fitStage(spec: ModelSpec, image: Size): Stage | undefined {
  const [h, w] = spec.inputSize;
  if (spec.resize !== 'center-crop') return image.h === h && image.w === w ? undefined : resizeStage(image, { h, w }, { h, w }, 0, 0, spec.alignCorners);
  const { rh, rw, top, left } = centerCropBox(spec, image.h, image.w);
  return resizeStage(image, { h: rh, w: rw }, { h, w }, top, left, spec.alignCorners);
}

/** Diverse inputs (see diversePad in ./classifier): resize to the drawn size, pad at the drawn offset, resize back. */
function diverseStages(spec: ModelSpec, size: Size, diverse: DiverseInput): Stage[] {
  const [h, w] = spec.inputSize;
  const { sh, sw, oh, ow, top, left } = diverseBox(spec, diverse);
  const small = { h: sh, w: sw }, canvas = { h: oh, w: ow };
  const stages: Stage[] = [];
  const resize = (from: Size, to: Size) => {
    if (from.h !== to.h || from.w !== to.w) stages.push(resizeStage(from, to, to, 0, 0, spec.alignCorners));
  };
  resize(size, small);
  stages.push(padStage(small, canvas, top, left, 0));
  resize(canvas, { h, w });
  return stages;
}

/** One image's preprocessing at one size and diverse-inputs draw, forward and back. */
export class PixelPipeline {
  private readonly stages: Stage[];

  constructor(spec: ModelSpec, height: number, width: number, diverse?: DiverseInput) {
    const image = { h: height, w: width };
    // Diverse inputs draw from the whole image when it is squashed, from the crop otherwise (as preprocessImages).
    const fit = diverse && spec.resize !== 'center-crop' ? undefined : fitStage(spec, image);
    const stages = fit ? [fit] : [];
    if (diverse) stages.push(...diverseStages(spec, stages.at(-1)?.to ?? image, diverse));
    stages.push(channelStage(stages.at(-1)?.to ?? image, spec));
    this.stages = stages;
  }

  /** The network input of `image` ([H, W, 3]), written into `dst` at `dstOffset` ([h, w, 3] values). */
  forward(image: Float32Array, dst: Float32Array, dstOffset = 0): void {
    let x = image;
    this.stages.forEach((stage, i) => {
      const last = i === this.stages.length - 1;
      const out = last ? dst : new Float32Array(stage.to.h * stage.to.w * 3);
      stage.forward(x, out, last ? dstOffset : 0);
      x = out;
    });
  }

  /**
   * The gradient at the image ([H, W, 3]) of a function whose gradient at the network input is
   * `grad` ([h, w, 3]), written into the first H*W*3 values of `out` (a fresh array when absent).
   */
  back(grad: Float32Array, out?: Float32Array): Float32Array {
    let g = grad;
    for (let i = this.stages.length - 1; i >= 0; i--) {
      const { from } = this.stages[i];
      const size = from.h * from.w * 3;
      if (i === 0 && out && out.length < size) throw new RangeError(`PixelPipeline.back: room for ${out.length} values, the image has ${size}`);
      // A caller's buffer holds the last step's values: cleared, as a fresh array would be.
      const into = i === 0 && out ? out.subarray(0, size).fill(0) : new Float32Array(size);
      this.stages[i].back(g, into);
      g = into;
    }
    return out ?? g;
  }
}
