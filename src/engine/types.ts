import type { JobAdmission, JobKind, JobTicket } from './admission';
import type { RgbImage } from '../images/types';

import type { AttackLoss } from './attacks/definition';
import type { AttackMethod, MethodOptionValues } from './attacks/registry';

// The methods and losses are declared once, in the attack registry (./attacks/registry).
export { ATTACK_LOSSES, type AttackLoss } from './attacks/definition';
export { ATTACK_METHODS, type AttackMethod } from './attacks/registry';
export const TARGET_SELECTIONS = ['least-likely', 'max-loss'] as const;
export type TargetSelection = (typeof TARGET_SELECTIONS)[number];

/**
 * What a caller asks for; the engine fills in defaults and validates against the loaded models.
 * The method options (alpha, mu, ...) are the registry's (MethodOptionValues), flat beside the rest.
 */
export interface AttackParams extends MethodOptionValues {
  method: AttackMethod;
  /** L-infinity budget on the 0..255 scale, 0 < eps <= 64. */
  eps: number;
  iterations: number;
  /** Model ids to attack with; all loaded models when omitted. */
  models?: string[];
  targeted: boolean;
  /** Class index to aim at (targeted). */
  target?: number;
  /** Untargeted: how to pick the class to move away from / towards. */
  targetSelection?: TargetSelection;
  /** Untargeted max-loss: the clean label; the ensemble's prediction when omitted. */
  label?: number;
  /** Objective per model (default `ce`). */
  loss?: AttackLoss;
  /** loss=margin: the logit lead at which an image stops being pushed (default 0). */
  kappa?: number;
  /** Diverse inputs (Xie et al. 2019): random resize-and-pad of the model input before each gradient, with probability 0.5. */
  di?: boolean;
  /** Stop once the goal has held for this many consecutive iterations (0/undefined = off; see the `stop` modifier). */
  early_stop?: number;
  /** Translation-invariant smoothing (Dong et al. 2019): Gaussian kernel size applied to gradients (0/undefined = off; 7 or 15 typical). */
  ti?: number;
  /** Seeds every random choice (diverse inputs); same seed and inputs give the same output bytes. Default 0. */
  seed?: number;
  /** Aborts the attack between iterations (client gone, deadline, shutdown). */
  signal?: AbortSignal;
  /** A job slot the caller reserved (AttackEngine.reserve) before it had the image; else the engine admits the job itself. */
  ticket?: JobTicket;
  /** Called with each iteration's state while the attack runs (live progress: SSE, the CLI's bar). */
  onProgress?: (progress: AttackProgress) => void;
}

/**
 * One report of a running attack. `iteration` k < `iterations`: the image after k steps, as the
 * models saw it in step k+1's gradient pass (with that step's diverse-inputs draw, when `di` is
 * on); k = `iterations`: the final 8-bit image, as the result reports it.
 */
export interface AttackProgress {
  iteration: number;
  iterations: number;
  /** The class aimed at (targeted, least-likely) or moved away from (max-loss). */
  target: { index: number; label: string };
  /** Each model's top class and its probability, and its probability of the target. */
  models: { id: string; label: string; prob: number; targetProb: number }[];
  /** The same for the ensemble (the mean of the models' probabilities). */
  ensemble: { label: string; prob: number; targetProb: number };
}

export interface LabelProb { index: number; label: string; prob: number }

export interface ModelVerdict {
  id: string;
  before: { label: string; prob: number };
  after: { label: string; prob: number; targetProb: number };
}

export interface AttackOutcome {
  image: RgbImage;
  method: AttackMethod;
  eps: number;
  /** Steps taken: the iterations asked for, or fewer when early_stop ended the attack. */
  iterations: number;
  /** Whether early_stop ended the attack before its last iteration. */
  stoppedEarly: boolean;
  targeted: boolean;
  /** The class aimed at (targeted, or untargeted least-likely) or moved away from (max-loss). */
  target: { index: number; label: string };
  success: boolean;
  /** Measured on the rounded 8-bit output against the input, 0..255 scale. */
  linf: number;
  l2: number;
  elapsedMs: number;
  models: ModelVerdict[];
  ensemble: { before: { label: string; prob: number }; after: { label: string; prob: number; targetProb: number } };
}

export interface ClassifyOutcome {
  models: { id: string; top: LabelProb[] }[];
  ensemble: { top: LabelProb[] };
}

/** What routes and the CLI use; implemented by src/engine/engine.ts. */
export interface AttackEngine {
  readonly ready: boolean;
  readonly backend: string;
  listModels(): import('../models/types').ModelInfo[];
  /** Labels shared by the given models (all loaded models when omitted). Throws UnknownModel / InvalidOption (src/engine/errors.ts). */
  labels(models?: string[]): string[];
  /** The classes (labels, and class ids where every model has them) shared by the given models. Throws UnknownModel / InvalidOption. */
  classes(models?: string[]): { labels: string[]; classIds?: string[] };
  classify(image: RgbImage, opts: { models?: string[]; topK: number; ticket?: JobTicket }): Promise<ClassifyOutcome>;
  /**
   * A job slot, reserved before the request body is read (429 queue-full when none is free); the
   * caller releases it when the request is over, and may hand it to attack() or classify().
   */
  reserve?(kind: JobKind): JobTicket;
  /** Job slots and attack pixels in flight (ADVSERVE_MAX_JOBS, ADVSERVE_MAX_INFLIGHT_PIXELS). */
  readonly admission?: JobAdmission;
  attack(image: RgbImage, params: AttackParams): Promise<AttackOutcome>;
  /** Prometheus text exposition of the engine's counters (GET /metrics). */
  metricsText?(): string;
}
