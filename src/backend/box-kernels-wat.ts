/**
 * The WebAssembly text of the box kernels (see ./box-kernels). Each kernel's per-value body is
 * written once, for a lane type, and emitted twice: with f32x4 (four values at a time) for the
 * bulk, then with f32 for the last n mod 4 values. The bodies repeat, operation for operation,
 * the tfjs ops they replace (see src/engine/attacks/box.ts and mng.ts), so that each value goes
 * through the same float32 roundings in the same order.
 */

/** One lane type: how its values load, store and turn a comparison into 0/1. */
interface Lanes {
  /** f32x4 or f32: the prefix of the arithmetic instructions. */
  t: string;
  /** Suffix of the locals of this lane type (they are declared per type). */
  s: string;
  /** Bytes per load. */
  width: number;
  load(p: string): string;
  store(p: string, v: string): string;
  /** A comparison's result as 1.0 or +0.0, as tfjs' Step kernel writes it. */
  ones(cond: string): string;
  one: string;
  zero: string;
  /** The per-image scale, as a value of this type. */
  scale: string;
  /** acc, plus each of the values in v in order (the sequential float32 sum of tfjs' Sum kernel). */
  accumulate(v: string): string;
}

const get = (name: string) => `(local.get $${name})`;

const vector: Lanes = {
  t: 'f32x4',
  s: 'v',
  width: 16,
  load: (p) => `(v128.load ${p})`,
  store: (p, v) => `(v128.store ${p} ${v})`,
  ones: (cond) => `(v128.and ${cond} ${get('one_v')})`,
  one: get('one_v'),
  zero: get('zero_v'),
  scale: get('scale_v'),
  accumulate: (v) => `(local.set $lanes ${v}) ${[0, 1, 2, 3].map((k) => `(local.set $acc (f32.add ${get('acc')} (f32x4.extract_lane ${k} ${get('lanes')})))`).join(' ')}`,
};

const scalar: Lanes = {
  t: 'f32',
  s: 's',
  width: 4,
  load: (p) => `(f32.load ${p})`,
  store: (p, v) => `(f32.store ${p} ${v})`,
  ones: (cond) => `(f32.convert_i32_u ${cond})`,
  one: '(f32.const 1)',
  zero: '(f32.const 0)',
  scale: get('scale'),
  accumulate: (v) => `(local.set $acc (f32.add ${get('acc')} ${v}))`,
};

/**
 * clipToBox(m) into local c: the masks below = step(lower - m), above = step(m - upper),
 * inside = (1 - below) - above, then m*inside + lower*below + upper*above, summed as AddN does.
 */
function clip(L: Lanes, m: string): string {
  const { t, s } = L;
  return [
    `(local.set $lo_${s} ${L.load(get('plo'))}) (local.set $hi_${s} ${L.load(get('phi'))})`,
    `(local.set $b_${s} ${L.ones(`(${t}.gt (${t}.sub ${get(`lo_${s}`)} ${m}) ${L.zero})`)})`,
    `(local.set $a_${s} ${L.ones(`(${t}.gt (${t}.sub ${m} ${get(`hi_${s}`)}) ${L.zero})`)})`,
    `(local.set $i_${s} (${t}.sub (${t}.sub ${L.one} ${get(`b_${s}`)}) ${get(`a_${s}`)}))`,
    `(local.set $c_${s} (${t}.add (${t}.add (${t}.mul ${m} ${get(`i_${s}`)}) (${t}.mul ${get(`lo_${s}`)} ${get(`b_${s}`)})) (${t}.mul ${get(`hi_${s}`)} ${get(`a_${s}`)})))`,
  ].join('\n');
}

/** |v| for the L1 norm, v*v for L2 (tf.abs, tf.square). */
function magnitude(L: Lanes, v: string): string {
  return `(if (result ${L.s === 'v' ? 'v128' : 'f32'}) ${get('square')} (then (${L.t}.mul ${v} ${v})) (else (${L.t}.abs ${v})))`;
}

const locals = (names: string[]) => names.flatMap((n) => [`(local $${n}_v v128)`, `(local $${n}_s f32)`]).join(' ');

/** The loop over n values: the f32x4 body while four remain, then the f32 body; `pointers` advance together. */
function loop(pointers: string[], body: (L: Lanes) => string): string {
  const advance = (w: number) => pointers.map((p) => `(local.set $${p} (i32.add ${get(p)} (i32.const ${w})))`).join(' ');
  const pass = (L: Lanes, end: string) =>
    `(block $done_${L.s} (loop $next_${L.s} (br_if $done_${L.s} (i32.ge_u ${get(pointers[0])} ${end}))\n${body(L)}\n${advance(L.width)} (br $next_${L.s})))`;
  return [
    `(local.set $end_v (i32.add ${get(pointers[0])} (i32.shl (i32.and ${get('n')} (i32.const -4)) (i32.const 2))))`,
    `(local.set $end_s (i32.add ${get(pointers[0])} (i32.shl ${get('n')} (i32.const 2))))`,
    pass(vector, get('end_v')),
    pass(scalar, get('end_s')),
  ].join('\n');
}

/** Every kernel's locals (besides its per-lane ones), declared first as the format requires. */
const common = '(local $end_v i32) (local $end_s i32) (local $one_v v128) (local $zero_v v128) (local $scale_v v128) (local $acc f32) (local $lanes v128)';
const init = '(local.set $one_v (f32x4.splat (f32.const 1)))';

export function boxKernelsWat(sharedMemory: boolean): string {
  const memory = sharedMemory ? '(memory 1 65536 shared)' : '(memory 1)';
  return `(module
(import "env" "memory" ${memory})

;; tf.sum(tf.abs(v)) or tf.sum(tf.square(v)) over n values at pv.
(func (export "sum") (param $pv i32) (param $n i32) (param $square i32) (result f32)
${common} ${locals(['v'])}
${init}
${loop(['pv'], (L) => `(local.set $v_${L.s} ${L.load(get('pv'))}) ${L.accumulate(magnitude(L, get(`v_${L.s}`)))}`)}
${get('acc')})

;; The norm mng renormalises by: m = x + g*scale; inside = insideBox(m); the sum of |g*inside| (or its squares).
(func (export "maskedSum") (param $px i32) (param $pg i32) (param $plo i32) (param $phi i32) (param $n i32) (param $scale f32) (param $square i32) (result f32)
${common} ${locals(['g', 'm', 'lo', 'hi', 'b', 'a', 'i', 'c'])}
${init}
(local.set $scale_v (f32x4.splat ${get('scale')}))
${loop(['px', 'pg', 'plo', 'phi'], (L) =>
  [
    `(local.set $g_${L.s} ${L.load(get('pg'))})`,
    `(local.set $m_${L.s} (${L.t}.add ${L.load(get('px'))} (${L.t}.mul ${get(`g_${L.s}`)} ${L.scale})))`,
    clip(L, get(`m_${L.s}`)),
    L.accumulate(magnitude(L, `(${L.t}.mul ${get(`g_${L.s}`)} ${get(`i_${L.s}`)})`)),
  ].join('\n'),
)}
${get('acc')})

;; mng's per-model step: clipToBox(x + g*scale) - x.
(func (export "step") (param $px i32) (param $pg i32) (param $plo i32) (param $phi i32) (param $pout i32) (param $n i32) (param $scale f32)
${common} ${locals(['x', 'm', 'lo', 'hi', 'b', 'a', 'i', 'c'])}
${init}
(local.set $scale_v (f32x4.splat ${get('scale')}))
${loop(['px', 'pg', 'plo', 'phi', 'pout'], (L) =>
  [
    `(local.set $x_${L.s} ${L.load(get('px'))})`,
    `(local.set $m_${L.s} (${L.t}.add ${get(`x_${L.s}`)} (${L.t}.mul ${L.load(get('pg'))} ${L.scale})))`,
    clip(L, get(`m_${L.s}`)),
    L.store(get('pout'), `(${L.t}.sub ${get(`c_${L.s}`)} ${get(`x_${L.s}`)})`),
  ].join('\n'),
)}
)

;; The projection: clipToBox(x + d).
(func (export "addClip") (param $px i32) (param $pd i32) (param $plo i32) (param $phi i32) (param $pout i32) (param $n i32)
${common} ${locals(['m', 'lo', 'hi', 'b', 'a', 'i', 'c'])}
${init}
${loop(['px', 'pd', 'plo', 'phi', 'pout'], (L) =>
  [`(local.set $m_${L.s} (${L.t}.add ${L.load(get('px'))} ${L.load(get('pd'))}))`, clip(L, get(`m_${L.s}`)), L.store(get('pout'), get(`c_${L.s}`))].join('\n'),
)}
)
)`;
}
