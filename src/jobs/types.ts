/**
 * A dataset job: the images and the `advserve eval` settings of one POST /v1/jobs, split into
 * one item per (image, method). Everything here is plain JSON, so that a job can sit on local
 * disk (embedded mode) or in Redis (workers on other machines), and any process can read it.
 */
import type { ItemPrediction } from '../eval/run';

export const JOB_STATUSES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** The eval settings, resolved against the API's models when the job was submitted. */
export interface JobSettings {
  /** Method specs with modifiers, as `advserve eval --methods` takes them (`mi-fgsm+di+ti`, `none`). */
  methods: string[];
  /** Defense specs (`jpeg75+mobilenet_v2_mid`). */
  defenses: string[];
  attackModels: string[];
  /** The models whose ensemble gives the clean labels (the API's loaded models, as eval uses all of its own). */
  labelModels: string[];
  targeted: boolean;
  eps: number;
  iterations: number;
  seed: number;
  /** Clean labels given by the client (class indices, image order); else the label models' prediction. */
  labels?: number[];
  /** Targets given by the client (class indices, image order); else the seeded draw. */
  targets?: number[];
}

export interface JobRecord {
  id: string;
  /** The API key's name that submitted it ("anonymous" without keys): only that key sees the job. */
  owner: string;
  createdAt: string;
  settings: JobSettings;
  /** Image names (file names, archive paths), in image order. */
  images: string[];
  /** The class names of the label models (class index -> label), for status and report. */
  classes: string[];
  /** The tfjs backend of the API process, for the report. */
  backend: string;
}

/** One unit of work: image `image` of job `job` with method number `method`. */
export interface ItemRef {
  job: string;
  image: number;
  method: number;
}

/** What an item left behind: its predictions, or why it failed. */
export interface ItemResult {
  image: number;
  method: number;
  /** The image's clean label and target (class indices); absent when the item failed. */
  verdict?: { clean: number; target?: number };
  seconds?: number;
  predictions?: ItemPrediction[];
  /** Why the item failed (an image that does not decode, a model this worker lacks...). */
  error?: string;
  finishedAt: string;
}

/** Timestamps a job gathers as it runs. */
export interface JobState {
  startedAt?: string;
  finishedAt?: string;
  cancelledAt?: string;
}

export const itemCount = (job: JobRecord) => job.images.length * job.settings.methods.length;
export const itemKey = (image: number, method: number) => `${image}.${method}`;
