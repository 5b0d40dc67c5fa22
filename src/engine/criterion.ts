/**
 * An attack's objective as a criterion (Foolbox's Misclassification / TargetedMisclassification):
 * the class whose score the gradient passes follow, in which direction, and the success test on
 * the ensemble's label after the attack.
 */
import { argmax, argmin, type Probs } from './probs';
import type { AttackParams } from './types';

export interface Criterion {
  /** The class aimed at (targeted, least-likely) or moved away from (max-loss). */
  readonly cls: number;
  /** true: raise the class's score; false: lower it. */
  readonly towards: boolean;
  /** Whether the attack reached its goal, from the ensemble's label after it and before it. */
  succeeded(afterLabel: number, cleanLabel: number): boolean;
}

/** Targeted: the ensemble must predict the target. */
export class TargetedMisclassification implements Criterion {
  readonly towards = true;
  constructor(readonly cls: number) {}
  succeeded(afterLabel: number): boolean {
    return afterLabel === this.cls;
  }
}

/** Untargeted, towards the class the clean image is least likely to be; success: off the clean label (or the given one). */
export class LeastLikely implements Criterion {
  readonly towards = true;
  constructor(
    readonly cls: number,
    private readonly reference?: number,
  ) {}
  succeeded(afterLabel: number, cleanLabel: number): boolean {
    return afterLabel !== (this.reference ?? cleanLabel);
  }
}

/** Untargeted, away from the clean label (the given one, else the ensemble's prediction); success: off it. */
export class MaxLoss implements Criterion {
  readonly towards = false;
  constructor(readonly cls: number) {}
  succeeded(afterLabel: number): boolean {
    return afterLabel !== this.cls;
  }
}

/** Whether the criterion needs the clean prediction before the attack starts (least-likely; max-loss without a label). */
export function needsCleanPrediction(params: Pick<AttackParams, 'targeted' | 'targetSelection' | 'label'>): boolean {
  if (params.targeted) return false;
  return (params.targetSelection ?? 'least-likely') === 'least-likely' || params.label === undefined;
}

export function criterionFor(params: Pick<AttackParams, 'targeted' | 'target' | 'targetSelection' | 'label'>, clean?: Probs): Criterion {
  if (params.targeted) return new TargetedMisclassification(params.target!);
  if ((params.targetSelection ?? 'least-likely') === 'least-likely') return new LeastLikely(argmin(clean!.ensemble), params.label);
  return new MaxLoss(params.label ?? argmax(clean!.ensemble));
}
