/**
 * The ONNX front end: an ONNX classifier (as PyTorch's torch.onnx.export and the ONNX Model Zoo
 * write them, opsets 11-17) becomes the same IR program as the tfjs models, so it gets the fast
 * tfjs gradients, the onnxruntime forward + gradient export, the worker pool and batching.
 * Shape arithmetic is folded at load (./fold), NCHW values are kept channels-last (./values),
 * quantized ops (QLinear*, Quantize/DequantizeLinear) become their float equivalents:
 * dequantized weights, float activations. Anything else fails the load naming the op, the node
 * and the file.
 */
import { readOnnx } from '../../onnx/read';
import { registerFastGradients } from '../conv-grad';
import { CompiledNet, ProgramBuilder } from '../program';
import { OnnxCompiler, type OnnxCompileOptions } from './compiler';

export type { OnnxCompileOptions };
import { HANDLERS } from './handlers';
import { FrontValues } from './values';

export interface CompiledOnnx extends CompiledNet {
  /** True when quantized ops were replaced by their float equivalent. */
  dequantized: boolean;
  opset: number;
}

export function compileOnnxModel(bytes: Uint8Array, opts: OnnxCompileOptions): CompiledOnnx {
  registerFastGradients();
  const graph = readOnnx(bytes, opts.file);
  const b = new ProgramBuilder();
  const front = new FrontValues(b);
  try {
    const { output, endsInSoftmax, dequantized } = new OnnxCompiler(graph, b, front, opts, HANDLERS).run();
    const net = b.build('input', output, endsInSoftmax, () => {}, opts.head);
    return { ...net, dequantized, opset: graph.opset };
  } catch (err) {
    b.abandon();
    throw err;
  } finally {
    front.dispose();
  }
}

