/**
 * Constant folding for the ONNX front end: nodes whose inputs are all known at load time
 * (initializers, Constant nodes, and Shape of a computed value, whose size is fixed once the
 * input size is) are evaluated here in plain JS. This is what turns PyTorch's
 * Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains into constant target shapes, and
 * dequantizes quantized weights.
 */
import type { Attr, ConstTensor } from '../../onnx/read';

/** Stands for the batch size in folded shapes: any multiple of it left in a Reshape target marks the batch axis. */
export const BATCH = 7919;

export const FLOAT = 1;
export const INT64 = 7;

const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

export function constOf(dims: number[], values: ArrayLike<number>, type = FLOAT): ConstTensor {
  return { dims, data: type === FLOAT ? Float32Array.from(values) : Float64Array.from(values), type };
}

export function ints(c: ConstTensor): number[] {
  return Array.from(c.data, (v) => Math.trunc(v));
}

export function scalarOf(c: ConstTensor): number {
  if (c.data.length !== 1) throw new Error(`expected a scalar, got shape [${c.dims}]`);
  return c.data[0];
}

function strides(dims: number[]): number[] {
  const s = new Array(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

/** numpy broadcasting of two constants under f. */
function broadcast(a: ConstTensor, b: ConstTensor, f: (x: number, y: number) => number, type: number): ConstTensor {
  const rank = Math.max(a.dims.length, b.dims.length);
  const pad = (d: number[]) => [...new Array(rank - d.length).fill(1), ...d];
  const da = pad(a.dims), db = pad(b.dims);
  const dims = da.map((v, i) => {
    if (v !== db[i] && v !== 1 && db[i] !== 1) throw new Error(`shapes [${a.dims}] and [${b.dims}] do not broadcast`);
    return Math.max(v, db[i]);
  });
  const sa = strides(da), sb = strides(db), so = strides(dims);
  const out = new Array(size(dims));
  for (let i = 0; i < out.length; i++) {
    let ia = 0, ib = 0, r = i;
    for (let k = 0; k < rank; k++) {
      const q = Math.floor(r / so[k]);
      r -= q * so[k];
      if (da[k] !== 1) ia += q * sa[k];
      if (db[k] !== 1) ib += q * sb[k];
    }
    out[i] = f(a.data[ia], b.data[ib]);
  }
  return constOf(dims, out, type);
}

const isInt = (c: ConstTensor) => c.type !== FLOAT && c.type !== 11 && c.type !== 10;

function sliceConst(x: ConstTensor, starts: number[], ends: number[], axes: number[], steps: number[]): ConstTensor {
  const dims = x.dims.slice();
  const lo = dims.map(() => 0), hi = dims.slice(), st = dims.map(() => 1);
  axes.forEach((a0, j) => {
    const a = a0 < 0 ? a0 + dims.length : a0;
    const d = dims[a];
    const step = steps[j] ?? 1;
    if (step !== 1) throw new Error(`Slice with step ${step} is not supported`);
    const clamp = (v: number) => Math.max(0, Math.min(d, v < 0 ? v + d : v));
    lo[a] = clamp(starts[j]);
    hi[a] = clamp(ends[j]);
    st[a] = step;
  });
  const outDims = dims.map((_, i) => Math.max(0, hi[i] - lo[i]));
  const s = strides(dims), so = strides(outDims);
  const out = new Array(size(outDims));
  for (let i = 0; i < out.length; i++) {
    let src = 0, r = i;
    for (let k = 0; k < dims.length; k++) {
      const q = Math.floor(r / so[k]);
      r -= q * so[k];
      src += (lo[k] + q) * s[k];
    }
    out[i] = x.data[src];
  }
  return constOf(outDims, out, x.type);
}

/** Dequantizes per tensor or per axis: (q - zero_point) * scale. */
export function dequantize(q: ConstTensor, scale: ConstTensor, zp: ConstTensor | undefined, axis = 1): ConstTensor {
  const n = q.data.length;
  const out = new Float32Array(n);
  if (scale.data.length === 1) {
    const s = scale.data[0], z = zp ? zp.data[0] : 0;
    for (let i = 0; i < n; i++) out[i] = (q.data[i] - z) * s;
  } else {
    const a = axis < 0 ? axis + q.dims.length : axis;
    const inner = size(q.dims.slice(a + 1)), c = q.dims[a];
    for (let i = 0; i < n; i++) {
      const k = Math.floor(i / inner) % c;
      out[i] = (q.data[i] - (zp ? zp.data[k] : 0)) * scale.data[k];
    }
  }
  return { dims: q.dims.slice(), data: out, type: FLOAT };
}

export type Folder = (ins: Array<ConstTensor | undefined>, attr: (name: string) => Attr | undefined, opset: number) => ConstTensor[];

const intsAttr = (v: Attr | undefined) => (Array.isArray(v) ? (v as number[]) : undefined);

/** Axes from an attribute (older opsets) or the second input (newer). */
function axesOf(ins: Array<ConstTensor | undefined>, attr: (name: string) => Attr | undefined): number[] | undefined {
  return intsAttr(attr('axes')) ?? (ins[1] ? ints(ins[1]) : undefined);
}

export const FOLDERS: Record<string, Folder> = {
  Identity: ([x]) => [x!],
  Constant: (_, attr) => {
    const v = attr('value');
    if (v && typeof v === 'object' && !Array.isArray(v)) return [v];
    const f = attr('value_float'), i = attr('value_int'), fs = attr('value_floats'), is = attr('value_ints');
    if (typeof f === 'number') return [constOf([], [f])];
    if (typeof i === 'number') return [constOf([], [i], INT64)];
    if (Array.isArray(fs)) return [constOf([fs.length], fs as number[])];
    if (Array.isArray(is)) return [constOf([is.length], is as number[], INT64)];
    throw new Error('Constant without a value');
  },
  Cast: ([x], attr) => {
    const to = attr('to') as number;
    const float = to === FLOAT || to === 10 || to === 11;
    return [constOf(x!.dims, float ? Array.from(x!.data) : Array.from(x!.data, Math.trunc), float ? FLOAT : INT64)];
  },
  Gather: ([x, idx], attr) => {
    const axis0 = (attr('axis') as number) ?? 0;
    const axis = axis0 < 0 ? axis0 + x!.dims.length : axis0;
    const index = ints(idx!).map((v) => (v < 0 ? v + x!.dims[axis] : v));
    const outer = size(x!.dims.slice(0, axis)), inner = size(x!.dims.slice(axis + 1)), d = x!.dims[axis];
    const out: number[] = [];
    for (let o = 0; o < outer; o++) for (const k of index) for (let i = 0; i < inner; i++) out.push(x!.data[(o * d + k) * inner + i]);
    return [constOf([...x!.dims.slice(0, axis), ...idx!.dims, ...x!.dims.slice(axis + 1)], out, x!.type)];
  },
  Unsqueeze: (ins, attr) => {
    const x = ins[0]!;
    const axes = axesOf(ins, attr) ?? [];
    const rank = x.dims.length + axes.length;
    const norm = axes.map((a) => (a < 0 ? a + rank : a));
    const dims: number[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) dims.push(norm.includes(i) ? 1 : x.dims[j++]);
    return [{ ...x, dims }];
  },
  Squeeze: (ins, attr) => {
    const x = ins[0]!;
    const axes = (axesOf(ins, attr) ?? x.dims.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((a) => (a < 0 ? a + x.dims.length : a));
    return [{ ...x, dims: x.dims.filter((_, i) => !axes.includes(i)) }];
  },
  Concat: (ins, attr) => {
    const xs = ins as ConstTensor[];
    const axis0 = attr('axis') as number;
    const axis = axis0 < 0 ? axis0 + xs[0].dims.length : axis0;
    const outer = size(xs[0].dims.slice(0, axis));
    const out: number[] = [];
    for (let o = 0; o < outer; o++) for (const x of xs) {
      const chunk = size(x.dims.slice(axis));
      for (let i = 0; i < chunk; i++) out.push(x.data[o * chunk + i]);
    }
    const dims = xs[0].dims.slice();
    dims[axis] = xs.reduce((s, x) => s + x.dims[axis], 0);
    return [constOf(dims, out, xs[0].type)];
  },
  Add: ([a, b]) => [broadcast(a!, b!, (x, y) => x + y, a!.type)],
  Sub: ([a, b]) => [broadcast(a!, b!, (x, y) => x - y, a!.type)],
  Mul: ([a, b]) => [broadcast(a!, b!, (x, y) => x * y, a!.type)],
  Div: ([a, b]) => [broadcast(a!, b!, isInt(a!) ? (x, y) => Math.trunc(x / y) : (x, y) => x / y, a!.type)],
  Sqrt: ([x]) => [constOf(x!.dims, Array.from(x!.data, Math.sqrt))],
  Reshape: ([x, shape], attr) => {
    const s = ints(shape!);
    const allowZero = attr('allowzero') === 1;
    const dims = s.map((v, i) => (v === 0 && !allowZero ? x!.dims[i] : v));
    const known = dims.filter((v) => v >= 0).reduce((a, b) => a * b, 1);
    return [{ ...x!, dims: dims.map((v) => (v === -1 ? x!.data.length / known : v)) }];
  },
  Slice: (ins, attr) => {
    const x = ins[0]!;
    const starts = intsAttr(attr('starts')) ?? ints(ins[1]!);
    const ends = intsAttr(attr('ends')) ?? ints(ins[2]!);
    const axes = intsAttr(attr('axes')) ?? (ins[3] ? ints(ins[3]) : starts.map((_, i) => i));
    const steps = ins[4] ? ints(ins[4]) : [];
    return [sliceConst(x, starts, ends, axes, steps)];
  },
  ConstantOfShape: ([shape], attr) => {
    const v = attr('value') as ConstTensor | undefined;
    const dims = ints(shape!);
    return [constOf(dims, new Array(size(dims)).fill(v ? v.data[0] : 0), v?.type ?? FLOAT)];
  },
  DequantizeLinear: ([q, scale, zp], attr) => [dequantize(q!, scale!, zp, (attr('axis') as number) ?? 1)],
  Transpose: ([x], attr) => {
    const rank = x!.dims.length;
    const perm = intsAttr(attr('perm')) ?? x!.dims.map((_, i) => rank - 1 - i);
    const dims = perm.map((p) => x!.dims[p]);
    const s = strides(x!.dims), so = strides(dims);
    const out = new Array(x!.data.length);
    for (let i = 0; i < out.length; i++) {
      let src = 0, r = i;
      for (let k = 0; k < rank; k++) {
        const q = Math.floor(r / so[k]);
        r -= q * so[k];
        src += q * s[perm[k]];
      }
      out[i] = x!.data[src];
    }
    return [constOf(dims, out, x!.type)];
  },
};
