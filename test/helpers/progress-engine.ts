/** The fake engine (./fake-engine.ts) with live progress, for the event-stream and page tests. */
import type { ApiError } from '../../src/errors';
import type { AttackOutcome, AttackParams } from '../../src/engine/types';
import type { RgbImage } from '../../src/images/types';
import { FakeEngine } from './fake-engine';

/** The fake engine, plus one progress report per iteration (each after `stepMs`) and a final one. */
export class ProgressEngine extends FakeEngine {
  stepMs = 0;
  /** Throw this at the start of the given iteration. */
  failAt?: { iteration: number; error: Error };
  /** Rejects before doing anything (as the engine's admission does when it is full). */
  reject?: ApiError;
  /** The abort reason of each attack whose signal fired. */
  readonly aborted: unknown[] = [];

  override async attack(image: RgbImage, params: AttackParams): Promise<AttackOutcome> {
    if (this.reject) throw this.reject;
    params.signal?.addEventListener('abort', () => this.aborted.push(params.signal!.reason), { once: true });
    const report = (iteration: number, targetProb: number) =>
      params.onProgress?.({
        iteration,
        iterations: params.iterations,
        target: { index: params.target ?? 0, label: this.classLabels[params.target ?? 0] },
        models: ['fake_a', 'fake_b'].map((id) => ({ id, label: 'Neutral', prob: 0.5, targetProb })),
        ensemble: { label: 'Neutral', prob: 0.5, targetProb },
      });
    for (let i = 0; i < params.iterations; i++) {
      if (this.stepMs > 0) await new Promise((r) => setTimeout(r, this.stepMs));
      params.signal?.throwIfAborted();
      if (this.failAt?.iteration === i) throw this.failAt.error;
      report(i, i / params.iterations);
    }
    const out = await super.attack(image, params);
    report(params.iterations, 0.8);
    return out;
  }
}
