/**
 * Compilers from tfjs models to CompiledNet: the same function as the model, pre-softmax, with
 * fused forward kernels and fast input gradients on wasm (see ./ops and ./conv-grad).
 * compileLayersModel falls back to layer.apply() per unknown layer (listed in `fallbacks`);
 * compileGraphModel throws on an unknown op (the caller then uses the plain model).
 * The returned net owns the model: its dispose() disposes the model too.
 */
export type { CompiledNet } from './program';
export { compileLayersModel } from './compile-layers';
export { compileGraphModel } from './compile-graph';
export { registerFastGradients } from './conv-grad';
