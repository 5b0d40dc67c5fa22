/**
 * The forward half of an exported gradient graph (./export): the nodes, initializers and inputs
 * the logits depend on, and nothing else. A session on it runs probability passes.
 *
 * Why a graph of its own: onnxruntime runs every node of a graph whatever outputs a run fetches,
 * so a probability pass on the gradient graph costs a whole gradient pass (MobileNetV2 at 224,
 * two threads: 17.9 ms against 5.0 ms for this graph, same logits bit for bit; docs/PERFORMANCE.md,
 * tenth round). onnxruntime keeps the dead nodes of a graph whose outputs no longer need them, so
 * they are removed here.
 */
import type { OnnxModel } from './proto';

/** `model` cut down to what computes `output` (node order kept). */
export function forwardOnly(model: OnnxModel, output = 'logits'): OnnxModel {
  if (!model.outputs.some((o) => o.name === output)) throw new Error(`the graph has no output ${output}`);
  const needed = new Set([output]);
  const kept = [];
  for (let i = model.nodes.length - 1; i >= 0; i--) {
    const node = model.nodes[i];
    if (!node.outputs.some((o) => needed.has(o))) continue;
    kept.push(node);
    for (const input of node.inputs) needed.add(input);
  }
  return {
    nodes: kept.reverse(),
    initializers: model.initializers.filter((t) => needed.has(t.name)),
    inputs: model.inputs.filter((v) => needed.has(v.name)),
    outputs: model.outputs.filter((o) => o.name === output),
    opset: model.opset,
  };
}

/** Bytes of the model's initializers: what a session on it holds for weights. */
export function initializerBytes(model: OnnxModel): number {
  return model.initializers.reduce((sum, t) => sum + t.data.byteLength, 0);
}
