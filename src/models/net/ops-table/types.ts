/**
 * One entry of the op table: how a step runs in tfjs and how it is written to ONNX.
 *
 * Export works on "physical" ONNX values: a rank-4 IR value (NHWC) is stored NCHW, every other
 * rank as it is. `exportOp` writes the forward nodes and returns the output plus a `back`
 * closure that, given the output's gradient, writes the input gradients' nodes (undefined for
 * inputs that need none: constants). ONNX has no autodiff, hence the explicit backward.
 */
import type * as tf from '@tensorflow/tfjs';
import type { GraphWriter } from '../../onnx/graph-writer';
import type { ConvLayer } from '../ops';
import type { DescOf, OpName } from '../ir';

export class ExportError extends Error {}

export interface StepView {
  name: string;
  inputs: string[];
  out: string;
}

export interface ExportCtx {
  g: GraphWriter;
  /** Logical (IR, NHWC for rank 4) shape of any value, from the shape probe. */
  shapeOf(name: string): number[];
  isConst(name: string): boolean;
  /** The tfjs constant behind a constant value. */
  constOf(name: string): tf.Tensor | undefined;
  /** The ONNX name of a computed value, or of a constant laid out to broadcast against a value of rank `userRank`. */
  input(name: string, userRank: number): string;
  /** Conv weights, shared by a layer's Conv and its ConvTranspose. */
  convWeights: Map<ConvLayer, string>;
  /** Conv weights flipped for the input gradient's Conv (stride-1 layers). */
  convFlipped: Map<ConvLayer, string>;
}

export interface Exported {
  y: string;
  back(dy: string): Array<string | undefined>;
}

export interface OpEntry<K extends OpName> {
  /** The tfjs forward; differentiable (tf.grad) with fast input gradients. */
  forward(d: DescOf<K>, xs: tf.Tensor[]): tf.Tensor;
  /** ONNX forward and backward; throws ExportError where the op's configuration is not exportable. */
  exportOp(ctx: ExportCtx, d: DescOf<K>, step: StepView, ins: string[]): Exported;
}

export type OpTable = { [K in OpName]: OpEntry<K> };

/** NHWC shape -> physical (NCHW) shape for rank 4; other ranks unchanged. */
export const physicalShape = (s: number[]) => (s.length === 4 ? [s[0], s[3], s[1], s[2]] : s.slice());
/** Rank 4: physical (NCHW) axis i holds logical (NHWC) axis PERM4[i]. */
const PERM4 = [0, 3, 1, 2];
/** A logical axis of a rank-r value as its physical axis. */
export const physicalAxis = (a: number, rank: number) => {
  const n = a < 0 ? a + rank : a;
  return rank === 4 ? PERM4.indexOf(n) : n;
};
/** For rank r: physical axis i holds logical axis result[i] (the identity unless rank 4). */
export const toPhysicalPerm = (rank: number) => (rank === 4 ? PERM4 : Array.from({ length: rank }, (_, i) => i));

/** Reorders per-axis values (pads, begins) from logical to physical order. */
export function physicalOrder<T>(values: T[]): T[] {
  return values.length === 4 ? PERM4.map((i) => values[i]) : values.slice();
}

/** A physical value transposed to its logical (NHWC) element order, and back. */
export function toLogical(ctx: ExportCtx, x: string, rank: number): string {
  return rank === 4 ? ctx.g.one('Transpose', [x], { perm: [0, 2, 3, 1] }) : x;
}
export function toPhysical(ctx: ExportCtx, x: string, rank: number): string {
  return rank === 4 ? ctx.g.one('Transpose', [x], { perm: [0, 3, 1, 2] }) : x;
}

/**
 * Sums a gradient of the (broadcast) output shape down to an input's shape: numpy broadcasting
 * over logical shapes, applied to physical values.
 */
export function reduceTo(ctx: ExportCtx, dy: string, outShape: number[], inShape: number[], step: StepView): string {
  if (inShape.join() === outShape.join()) return dy;
  if (inShape.length !== outShape.length) throw new ExportError(`step ${step.name} broadcasts a computed value of rank ${inShape.length} to rank ${outShape.length}`);
  const pin = physicalShape(inShape), pout = physicalShape(outShape);
  const axes = pout.map((d, i) => (pin[i] === 1 && d !== 1 ? i : -1)).filter((i) => i >= 0);
  if (axes.length === 0) return dy;
  return ctx.g.one('ReduceSum', [dy, ctx.g.int64s(axes)], { keepdims: 1 });
}
