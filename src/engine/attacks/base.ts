/**
 * The one iterative loop every attack shares (the Foolbox layout): a variant overrides only
 * how the models' gradients become an update (`step`, usually via `normalize`) and may keep
 * per-attack state (momentum). The base owns the loop, the projection onto the eps-box and
 * [0, 255], and never lets a variant leave them.
 *
 * Conventions: images are float32 [N, H, W, 3] on the 0..255 scale; a "direction" is the
 * gradient of the objective oriented so that moving along it is progress (for a targeted
 * attack, minus the gradient of the target's cross-entropy).
 */
import * as tf from '@tensorflow/tfjs';
import type { DiverseInput } from '../../models/types';
import { clipSumToBox, consume } from './box';
import { drawDiverse, translationInvariant, type DiverseOptions } from './modifiers';

export interface AttackContext {
  clean: tf.Tensor4D;
  /** max(clean - eps, 0) and min(clean + eps, 255): the feasible box. */
  lower: tf.Tensor4D;
  upper: tf.Tensor4D;
  /** 0..255 scale. */
  eps: number;
  iterations: number;
  /** Uniform [0, 1) numbers from the request's seed, for randomised variants. */
  random: () => number;
}

/**
 * Asks for the current image's directions: resolves, once the requests are out, to one pending
 * direction per model (same shape as x), in model order. Models finish at different times; the
 * loop prepares each direction as it arrives (see IterativeAttack.prepare). `diverse`, when
 * set, is the diverse-inputs draw every model applies to its input for this step.
 */
export type DirectionOracle = (x: tf.Tensor4D, iteration: number, diverse?: DiverseInput, probe?: boolean) => Promise<Array<Promise<tf.Tensor4D>>>;
// `probe`: x is not the current image but one of the extra points a step samples (see
// IterativeAttack.probes): its pass reports no progress and is not the clean prediction.

/** Options any iterative method can take (see ./modifiers). */
export interface Modifiers {
  /** Diverse inputs; off when undefined. */
  di?: DiverseOptions;
  /** Translation-invariant kernel size; off when 0 or undefined. */
  ti?: number;
}

/**
 * A point a step samples besides x (see IterativeAttack.probes). `make` creates it when its
 * requests go out, so that only a few exist at once; its direction counts `weight` times in the
 * sum the step gets.
 */
export interface Probe {
  make(): tf.Tensor4D;
  weight: number;
}

/** Per model m: the sum over the step's probes p of weight_p * (model m's direction at p, through prepare()). Empty without probes. */
export type ProbeSums = tf.Tensor4D[];

/**
 * Probes whose requests are out at once: with x's, one batch of 8 (the default
 * ADVSERVE_MAX_BATCH) per model. Each probe's directions are added into the per-model sums as
 * they arrive, so a step with many probes (VMI-FGSM: 20) holds a handful of full-size tensors,
 * not one per probe and model.
 */
const PROBES_AT_ONCE = 7;

export interface AttackState {
  x: tf.Tensor4D;
  iteration: number;
  /** Variant-owned tensors carried across steps (e.g. momentum); disposed by the base. */
  memory: Record<string, tf.Tensor>;
}

export abstract class IterativeAttack {
  abstract readonly name: string;
  /** Iterations when the caller gives none. */
  readonly defaultIterations: number = 20;
  modifiers: Modifiers = {};

  /**
   * Update to add to x at this step, before projection. `directions` has one entry per model,
   * each already through prepare().
   */
  protected abstract step(x: tf.Tensor4D, directions: tf.Tensor4D[], ctx: AttackContext, state: AttackState, probes: ProbeSums): tf.Tensor4D;

  /**
   * Extra points whose directions this step needs besides x (SI-FGSM: scaled copies; VMI-FGSM:
   * neighbours). Their gradient requests go out together with x's, PROBES_AT_ONCE at a time, so
   * the scheduler batches them into the same passes. Default: none.
   */
  protected probes(_x: tf.Tensor4D, _ctx: AttackContext, _state: AttackState): Probe[] {
    return [];
  }

  /**
   * The part of a step that concerns one model alone (mng: its normalised, box-clipped step).
   * The loop calls it as soon as that model's direction arrives, so that it overlaps the
   * passes of the models still running. Default: the direction itself.
   */
  protected perModel(_x: tf.Tensor4D, direction: tf.Tensor4D, _ctx: AttackContext): tf.Tensor4D {
    return direction;
  }

  /** One model's direction, ready for step(): TI smoothing (when on), then perModel(). Disposes `direction`. */
  prepare(x: tf.Tensor4D, direction: tf.Tensor4D, ctx: AttackContext): tf.Tensor4D {
    const ti = this.modifiers.ti;
    let out: tf.Tensor4D | undefined;
    try {
      out = tf.tidy(() => this.perModel(x, ti ? translationInvariant(direction, ti) : direction, ctx));
      return out;
    } finally {
      if (out !== direction) direction.dispose();
    }
  }

  /** How many iterations this attack actually runs for a requested count (fgsm: always 1). */
  iterationsFor(requested: number): number {
    return requested;
  }

  start(ctx: AttackContext): AttackState {
    return { x: tf.keep(ctx.clean.clone()), iteration: 0, memory: {} };
  }

  /** One step from raw directions (one per model): projected image out. Disposes the previous x and the directions. */
  advance(state: AttackState, directions: tf.Tensor4D[], ctx: AttackContext): AttackState {
    return this.applyStep(state, directions.map((d) => this.prepare(state.x, d, ctx)), ctx);
  }

  /** One step from prepared directions. Disposes the previous x and the directions. */
  private applyStep(state: AttackState, directions: tf.Tensor4D[], ctx: AttackContext, probes: ProbeSums = []): AttackState {
    const prevMemory = { ...state.memory };
    let next: tf.Tensor4D;
    try {
      next = tf.tidy(() => {
        const delta = this.step(state.x, directions, ctx, state, probes);
        const memory = Object.values(state.memory);
        for (const t of memory) tf.keep(t);
        // Full-size tensors are freed as soon as they are used (see consume): the directions
        // once the step is known, the step once added.
        tf.dispose(directions.filter((d) => d !== delta && !memory.includes(d)));
        const projected = this.project(state.x, delta, ctx);
        if (!memory.includes(delta)) delta.dispose();
        return projected;
      });
    } finally {
      for (const d of directions) d.dispose();
      tf.dispose(probes);
    }
    state.x.dispose();
    // Variants replace memory entries in step(); free the ones they replaced.
    for (const [k, t] of Object.entries(prevMemory)) if (state.memory[k] !== t) t.dispose();
    return { x: next, iteration: state.iteration + 1, memory: state.memory };
  }

  /** The base's guarantee: x + delta, brought back into the eps-box around the clean image, inside [0, 255]. */
  project(x: tf.Tensor4D, delta: tf.Tensor4D, ctx: AttackContext): tf.Tensor4D {
    return clipSumToBox(x, delta, ctx.lower, ctx.upper);
  }

  finish(state: AttackState): tf.Tensor4D {
    for (const t of Object.values(state.memory)) t.dispose();
    state.memory = {};
    return state.x;
  }

  /**
   * Directions at x (per model) and the per-model weighted sums over the probes. x's requests
   * go out with the first probes'; each probe exists only until its requests are out. On any
   * failure, frees what arrived and rethrows the first failure.
   */
  private async sample(
    x: tf.Tensor4D,
    probes: Probe[],
    iteration: number,
    diverse: DiverseInput | undefined,
    oracle: DirectionOracle,
    ctx: AttackContext,
  ): Promise<{ atX: tf.Tensor4D[]; sums: ProbeSums }> {
    let atX: tf.Tensor4D[] | undefined;
    const sums: tf.Tensor4D[] = [];
    let failure: { reason: unknown } | undefined;
    const fail = (reason: unknown) => (failure ??= { reason });
    const add = (m: number, direction: tf.Tensor4D, weight: number) => {
      const prepared = this.prepare(x, direction, ctx);
      const weighted = consume(() => tf.tidy(() => tf.mul(prepared, weight) as tf.Tensor4D), prepared);
      const previous = sums[m];
      sums[m] = previous ? consume(() => tf.add(previous, weighted) as tf.Tensor4D, previous, weighted) : weighted;
    };
    for (let start = 0; start < probes.length && !failure; start += PROBES_AT_ONCE) {
      const chunk = probes.slice(start, start + PROBES_AT_ONCE);
      const images = chunk.map((p) => p.make());
      let calls: PromiseSettledResult<Array<Promise<tf.Tensor4D>>>[];
      try {
        calls = await Promise.allSettled([...(start === 0 ? [oracle(x, iteration, diverse)] : []), ...images.map((im) => oracle(im, iteration, diverse, true))]);
      } finally {
        tf.dispose(images);
      }
      const pending: Promise<unknown>[] = [];
      if (start === 0) {
        const call = calls.shift()!;
        if (call.status === 'rejected') fail(call.reason);
        else pending.push(settleAll(call.value.map((p) => p.then((d) => this.prepare(x, d, ctx)))).then((v) => (atX = v), fail));
      }
      calls.forEach((call, k) => {
        if (call.status === 'rejected') return fail(call.reason);
        call.value.forEach((p, m) => pending.push(p.then((d) => (failure ? d.dispose() : add(m, d, chunk[k].weight))).catch(fail)));
      });
      await Promise.all(pending);
    }
    if (failure) {
      tf.dispose([...(atX ?? []), ...sums]);
      throw failure.reason;
    }
    return { atX: atX!, sums };
  }

  /**
   * The loop. The oracle may batch this job's gradient requests with other jobs' (see ../scheduler).
   * `stop`, asked once iteration i's directions at x_i are in and before its step, ends the loop
   * there (early stopping): x_i is the result, after i steps.
   */
  async run(ctx: AttackContext, oracle: DirectionOracle, stop?: (iteration: number) => boolean): Promise<tf.Tensor4D> {
    let state = this.start(ctx);
    try {
      const n = this.iterationsFor(ctx.iterations);
      for (let i = 0; i < n; i++) {
        const x = state.x;
        const diverse = this.modifiers.di ? drawDiverse(ctx.random, this.modifiers.di) : undefined;
        const probes = this.probes(x, ctx, state);
        const { atX, sums } =
          probes.length === 0
            ? { atX: await settleAll((await oracle(x, i, diverse)).map((p) => p.then((d) => this.prepare(x, d, ctx)))), sums: [] }
            : await this.sample(x, probes, i, diverse, oracle, ctx);
        if (stop?.(i)) {
          tf.dispose([...atX, ...sums]);
          break;
        }
        state = this.applyStep(state, atX, ctx, sums);
      }
    } catch (err) {
      this.finish(state).dispose();
      throw err;
    }
    return this.finish(state);
  }
}

/**
 * Waits for every promise; on any failure frees the tensors of the ones that succeeded and
 * rethrows the first failure (Promise.all would leave those tensors behind).
 */
async function settleAll(pending: Array<Promise<tf.Tensor4D>>): Promise<tf.Tensor4D[]> {
  const settled = await Promise.allSettled(pending);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const ok = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (failed) {
    tf.dispose(ok);
    throw failed.reason;
  }
  return ok;
}

/** Mean of the models' directions: the gradient of the ensemble's mean loss. */
export function meanDirection(directions: tf.Tensor4D[]): tf.Tensor4D {
  if (directions.length === 1) return directions[0].clone();
  const sum = tf.addN(directions);
  return consume(() => tf.div(sum, directions.length) as tf.Tensor4D, sum);
}

/** Per-image sum over all values, shaped [N, 1, 1, 1] to broadcast back over the image. */
export function perImageSum(x: tf.Tensor4D): tf.Tensor4D {
  return tf.sum(x, [1, 2, 3], true) as tf.Tensor4D;
}
