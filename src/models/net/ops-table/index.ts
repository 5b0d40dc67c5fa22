/**
 * The op table: every IR op (../ir.ts) with its tfjs forward and its ONNX export. Adding an op
 * is one IR case plus one entry here; the program (../program.ts) and the exporter
 * (src/models/onnx/export.ts) read only this table.
 */
import type { StepDesc } from '../ir';
import type * as tf from '@tensorflow/tfjs';
import { add, div, mul, sub } from './binary';
import { affine, clip, hardSigmoid, leakyRelu, log, relu, relu6, sigmoid, tanh } from './elementwise';
import { conv, dense } from './layers';
import { pool } from './pool';
import { concat, mean, pad, reshape, slice, tfjs, transpose } from './shape';
import type { ExportCtx, Exported, OpEntry, OpTable, StepView } from './types';

export const OPS: OpTable = {
  conv, dense, pool, relu, relu6, clip, leakyRelu, sigmoid, hardSigmoid, tanh, log, add, sub, mul, div, affine, concat, mean, pad, reshape, transpose, slice, tfjs,
};

/** Runs one step in tfjs. */
export function runStep(d: StepDesc, xs: tf.Tensor[]): tf.Tensor {
  return (OPS[d.op] as OpEntry<StepDesc['op']>).forward(d as never, xs);
}

/** Writes one step's ONNX forward and returns its backward writer. */
export function exportStep(ctx: ExportCtx, d: StepDesc, step: StepView, ins: string[]): Exported {
  return (OPS[d.op] as OpEntry<StepDesc['op']>).exportOp(ctx, d as never, step, ins);
}

export { ExportError } from './types';
export type { ExportCtx } from './types';
