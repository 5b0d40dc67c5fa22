/**
 * The model's preprocessing (see preprocessImages in ./classifier) as plain loops over one
 * [H, W, 3] image, with its adjoint: what the onnxruntime passes run instead of tfjs ops.
 *
 * Why: per pass and image, tfjs's resize, slice, pad and their gradients (tf.grad) cost 12-30 ms
 * of a worker's time on the wasm backend, most of it copying whole images between kernels;
 * these loops read each input value a few times and write each output once (about 1 ms each way
 * for a 224x224 input from 512x384).
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
 * Per output channel c: the source channel it reads, and the affine applied to that value
 * (the network's channel order and input range, fused into the last resize).
 */
interface ChannelMap {
  source: number[];
  scale: number[];
  offset: number[];
}

const IDENTITY: ChannelMap = { source: [0, 1, 2], scale: [1, 1, 1], offset: [0, 0, 0] };

/**
 * Bilinear resize of `from` to `full`, keeping only the window of size `to` at (top, left) of
 * the result (a centre crop costs no more than its window), then `channels`. forward and back
 * walk the same taps in the same loop nest, written out twice and for each of the three channels
 * on purpose: with a loop over the channels and the channel map in a pass of its own, a 224x224
 * input from 512x384 took 2.1 ms each way instead of 1.0 (docs/PERFORMANCE.md, seventh round),
 * and one shared walker calling back per pixel made the forward about twice as slow again.
 */
function resizeStage(from: Size, full: Size, to: Size, top: number, left: number, alignCorners: boolean, channels: ChannelMap = IDENTITY): Stage {
  const rows = axisTable(from.h, full.h, alignCorners, top, to.h);
  const cols = axisTable(from.w, full.w, alignCorners, left, to.w);
  const rowStride = from.w * 3;
  const rowLo = rows.lo.map((v) => v * rowStride), rowHi = rows.hi.map((v) => v * rowStride), rowFrac = rows.frac;
  const colLo = cols.lo.map((v) => v * 3), colHi = cols.hi.map((v) => v * 3), colFrac = cols.frac;
  const [s0, s1, s2] = channels.source;
  const [k0, k1, k2] = channels.scale;
  const [b0, b1, b2] = channels.offset;
  // Output channel c reads source channel source[c]; in the loops below, a0..a2 are source channels 0..2.
  const swap = s0 === 2 && s1 === 1 && s2 === 0;
  if (!swap && !(s0 === 0 && s1 === 1 && s2 === 2)) throw new Error(`channel order ${channels.source.join(',')} is not RGB or BGR`);
  return {
    from,
    to,
    forward(src, dst, dstOffset) {
      let o = dstOffset;
      for (let r = 0; r < to.h; r++) {
        const upperRow = rowLo[r], lowerRow = rowHi[r], fr = rowFrac[r];
        for (let c = 0; c < to.w; c++) {
          const tl = upperRow + colLo[c], tr = upperRow + colHi[c], bl = lowerRow + colLo[c], br = lowerRow + colHi[c], fc = colFrac[c];
          let u = src[tl] + (src[tr] - src[tl]) * fc, v = src[bl] + (src[br] - src[bl]) * fc;
          const a0 = u + (v - u) * fr;
          u = src[tl + 1] + (src[tr + 1] - src[tl + 1]) * fc;
          v = src[bl + 1] + (src[br + 1] - src[bl + 1]) * fc;
          const a1 = u + (v - u) * fr;
          u = src[tl + 2] + (src[tr + 2] - src[tl + 2]) * fc;
          v = src[bl + 2] + (src[br + 2] - src[bl + 2]) * fc;
          const a2 = u + (v - u) * fr;
          dst[o] = (swap ? a2 : a0) * k0 + b0;
          dst[o + 1] = a1 * k1 + b1;
          dst[o + 2] = (swap ? a0 : a2) * k2 + b2;
          o += 3;
        }
      }
    },
    back(grad, out) {
      let i = 0;
      for (let r = 0; r < to.h; r++) {
        const upperRow = rowLo[r], lowerRow = rowHi[r], fr = rowFrac[r];
        for (let c = 0; c < to.w; c++) {
          const tl = upperRow + colLo[c], tr = upperRow + colHi[c], bl = lowerRow + colLo[c], br = lowerRow + colHi[c], fc = colFrac[c];
          const wtl = (1 - fr) * (1 - fc), wtr = (1 - fr) * fc, wbl = fr * (1 - fc), wbr = fr * fc;
          const g0 = grad[i] * k0, g1 = grad[i + 1] * k1, g2 = grad[i + 2] * k2;
          const a0 = swap ? g2 : g0, a2 = swap ? g0 : g2;
          out[tl] += a0 * wtl;
          out[tr] += a0 * wtr;
          out[bl] += a0 * wbl;
          out[br] += a0 * wbr;
          out[tl + 1] += g1 * wtl;
          out[tr + 1] += g1 * wtr;
          out[bl + 1] += g1 * wbl;
          out[br + 1] += g1 * wbr;
          out[tl + 2] += a2 * wtl;
          out[tr + 2] += a2 * wtr;
          out[bl + 2] += a2 * wbl;
          out[br + 2] += a2 * wbr;
          i += 3;
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

/** The network's channel order and per-channel affine to its input range. */
function channelMap(spec: ModelSpec): ChannelMap {
  const { scale, offset } = pixelAffine(spec);
  return { source: spec.channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2], scale, offset };
}

/** The channel map alone, in place of size: for an image that needs no resize. */
function channelStage(size: Size, { source, scale, offset }: ChannelMap): Stage {
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

/** A stage to build once the pipeline is known: the last one takes the channel map when it is a resize. */
interface PlannedStage {
  to: Size;
  build(channels?: ChannelMap): Stage;
  takesChannels: boolean;
}

function plannedResize(from: Size, full: Size, to: Size, top: number, left: number, alignCorners: boolean): PlannedStage {
  return { to, takesChannels: true, build: (channels) => resizeStage(from, full, to, top, left, alignCorners, channels) };
}

/** The resize from the user's image to the model's size, or torchvision's resize + centre crop. */
function fitStage(spec: ModelSpec, image: Size): PlannedStage | undefined {
  const [h, w] = spec.inputSize;
  if (spec.resize !== 'center-crop') return image.h === h && image.w === w ? undefined : plannedResize(image, { h, w }, { h, w }, 0, 0, spec.alignCorners);
  const { rh, rw, top, left } = centerCropBox(spec, image.h, image.w);
  return plannedResize(image, { h: rh, w: rw }, { h, w }, top, left, spec.alignCorners);
}

/** Diverse inputs (see diversePad in ./classifier): resize to the drawn size, pad at the drawn offset, resize back. */
function diverseStages(spec: ModelSpec, size: Size, diverse: DiverseInput): PlannedStage[] {
  const [h, w] = spec.inputSize;
  const { sh, sw, oh, ow, top, left } = diverseBox(spec, diverse);
  const small = { h: sh, w: sw }, canvas = { h: oh, w: ow };
  const stages: PlannedStage[] = [];
  const resize = (from: Size, to: Size) => {
    if (from.h !== to.h || from.w !== to.w) stages.push(plannedResize(from, to, to, 0, 0, spec.alignCorners));
  };
  resize(size, small);
  const pad = padStage(small, canvas, top, left, 0);
  stages.push({ to: canvas, takesChannels: false, build: () => pad });
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
    const planned = fit ? [fit] : [];
    if (diverse) planned.push(...diverseStages(spec, planned.at(-1)?.to ?? image, diverse));
    const channels = channelMap(spec);
    const last = planned.at(-1);
    // The channel map costs a pass of its own only where no resize comes last to fuse it into.
    if (last?.takesChannels) this.stages = [...planned.slice(0, -1).map((p) => p.build()), last.build(channels)];
    else this.stages = [...planned.map((p) => p.build()), channelStage(last?.to ?? image, channels)];
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
