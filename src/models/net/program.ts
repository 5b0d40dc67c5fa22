/**
 * A compiled network: a straight-line list of steps over named values, plus the tensors it
 * owns. Both compilers (Layers and Graph) emit into a ProgramBuilder.
 */
import * as tf from '@tensorflow/tfjs';
import {
  ConvLayer, ConvLayerOptions, DenseLayer, FusedActivation, PoolLayer,
  disposeConvLayer, disposeDenseLayer, disposePoolLayer, makeConvLayer, makeDenseLayer, makePoolLayer,
} from './ops';
import type { StepDesc } from './ir';
import { runStep } from './ops-table';

export interface CompiledNet {
  /** x: [N, h, w, C] in the model's own input range and size. Returns pre-softmax logits [N, classes]. */
  forward(x: tf.Tensor4D): tf.Tensor2D;
  /** true when the original model ended in softmax (and forward() therefore stops before it). */
  endsInSoftmax: boolean;
  /** Layers/ops that are run through tfjs' own implementation instead of a fast op (empty for the bundled models). */
  fallbacks: string[];
  /** Frees the compiled weights, and the source model when fallbacks still run its layers (otherwise build() already freed it). */
  dispose(): void;
  /** The program as data, for export (src/models/onnx). Valid until dispose(). */
  graph(): NetGraph;
}

export interface NetGraph {
  input: string;
  output: string;
  steps: readonly Step[];
  consts: ReadonlyMap<string, tf.Tensor>;
  /** Runs the program once on x and returns every value's shape (the exporter needs static shapes). */
  shapes(x: tf.Tensor4D): Map<string, number[]>;
}

export interface Step {
  /** For error messages: the layer or node this step comes from. */
  name: string;
  inputs: string[];
  out: string;
  /** What the step computes; its tfjs forward and ONNX export come from the op table. */
  desc: StepDesc;
}

/**
 * What follows the network's own output: the log of probabilities (networks that end in a
 * softmax the compiler cannot strip), then the presented classes picked from the outputs
 * (background dropped, classes reordered by id; see ModelSpec.outputMap), as a 0/1 matrix so
 * that both runtimes differentiate it like any dense layer.
 */
export interface OutputHead {
  outputMap?: number[];
  log?: boolean;
}

/**
 * The 0/1 matrix [network outputs, presented classes] that picks outputMap's classes, or
 * undefined when the map is the identity. A matrix product rather than a gather: its gradient
 * is a product too, in both runtimes (wasm has no kernel for gather's gradient).
 */
export function classPick(map: number[]): tf.Tensor2D | undefined {
  if (map.every((v, i) => v === i)) return undefined;
  const rows = Math.max(...map) + 1;
  const kernel = new Float32Array(rows * map.length);
  map.forEach((src, j) => (kernel[src * map.length + j] = 1));
  return tf.tensor2d(kernel, [rows, map.length]);
}

export class ProgramBuilder {
  readonly steps: Step[] = [];
  readonly fallbacks: string[] = [];
  /** Values known at compile time (graph Consts), owned. */
  private readonly consts = new Map<string, tf.Tensor>();
  private readonly owned: tf.Tensor[] = [];
  private readonly convs: ConvLayer[] = [];
  private readonly denses: DenseLayer[] = [];
  private readonly pools: PoolLayer[] = [];

  /** Keep a tensor alive until dispose(). */
  own<T extends tf.Tensor>(t: T): T {
    this.owned.push(tf.keep(t));
    return t;
  }

  setConst(name: string, t: tf.Tensor): void {
    this.consts.set(name, this.own(tf.clone(t)));
  }

  constOf(name: string): tf.Tensor | undefined {
    return this.consts.get(name);
  }

  conv(o: ConvLayerOptions): ConvLayer {
    const l = makeConvLayer(o);
    this.convs.push(l);
    return l;
  }

  dense(kernel: tf.Tensor2D, bias: tf.Tensor1D | undefined, activation: FusedActivation): DenseLayer {
    const l = makeDenseLayer(kernel, bias, activation);
    this.denses.push(l);
    return l;
  }

  pool(kind: 'max' | 'avg', size: [number, number], strides: [number, number], pad: 'same' | 'valid'): PoolLayer {
    const l = makePoolLayer(kind, size, strides, pad);
    this.pools.push(l);
    return l;
  }

  add(name: string, inputs: string[], out: string, desc: StepDesc): void {
    this.steps.push({ name, inputs, out, desc });
  }

  /** Frees what was built so far (compilation failed). */
  abandon(): void {
    for (const t of this.owned) t.dispose();
    for (const l of this.convs) disposeConvLayer(l);
    for (const l of this.denses) disposeDenseLayer(l);
    for (const l of this.pools) disposePoolLayer(l);
    this.owned.length = 0;
    this.pools.length = 0;
    this.convs.length = 0;
    this.denses.length = 0;
  }

  /** Appends the head's steps after `output`; returns the new output. */
  private head(output: string, head: OutputHead, endsInSoftmax: boolean): string {
    let out = output;
    if (head.log && !endsInSoftmax) {
      this.add('head/log', [out], 'head/log', { op: 'log' });
      out = 'head/log';
    }
    const pick = head.outputMap && classPick(head.outputMap);
    if (pick) {
      this.add('head/flatten', [out], 'head/flatten', { op: 'reshape', rest: [-1] });
      const layer = this.dense(pick, undefined, 'linear');
      this.add('head/classes', ['head/flatten'], 'head/classes', { op: 'dense', layer });
      out = 'head/classes';
    }
    return out;
  }

  build(input: string, output: string, endsInSoftmax: boolean, disposeModel: () => void, head?: OutputHead): CompiledNet {
    if (head) output = this.head(output, head, endsInSoftmax);
    const steps = this.steps.slice();
    const consts = this.consts;
    // Without fallbacks nothing reads the source model again (every weight the program uses is
    // its own clone or folded copy), so free it now: a wasm heap never shrinks, and InceptionV3's
    // original weights are ~95 MB that the warm-up pass and later passes can reuse instead.
    let modelAlive = true;
    if (this.fallbacks.length === 0) {
      disposeModel();
      modelAlive = false;
    }
    const run = (x: tf.Tensor4D, seen?: (name: string, v: tf.Tensor) => void): tf.Tensor => {
      if (x.rank !== 4) throw new Error(`compiled net: expected a rank-4 NHWC input, got shape [${x.shape}]`);
      const values = new Map<string, tf.Tensor>(consts);
      values.set(input, x);
      seen?.(input, x);
      for (const s of steps) {
        const xs = s.inputs.map((k) => {
          const v = values.get(k);
          if (!v) throw new Error(`compiled net: step ${s.name} reads ${k}, which was not computed`);
          return v;
        });
        const y = runStep(s.desc, xs);
        values.set(s.out, y);
        seen?.(s.out, y);
      }
      return values.get(output)!;
    };
    return {
      endsInSoftmax,
      fallbacks: this.fallbacks.slice(),
      forward: (x: tf.Tensor4D) =>
        tf.tidy(() => {
          const y = run(x);
          return (y.rank === 2 ? y : tf.reshape(y, [y.shape[0], -1])) as tf.Tensor2D;
        }),
      graph: () => ({
        input,
        output,
        steps,
        consts,
        shapes: (x: tf.Tensor4D) => {
          const shapes = new Map<string, number[]>();
          for (const [k, v] of consts) shapes.set(k, v.shape.slice());
          tf.tidy(() => {
            run(x, (name, v) => shapes.set(name, v.shape.slice()));
          });
          return shapes;
        },
      }),
      dispose: () => {
        this.abandon();
        if (modelAlive) disposeModel();
        modelAlive = false;
      },
    };
  }
}
