import type { RgbImage } from '../../images/types';

/** What a transform may depend on besides its image and parameter. */
export interface TransformContext {
  /** Seeded random numbers in [0, 1) (only resize-pad draws any). */
  random: () => number;
  /** [height, width] of the model that will classify the transformed image. */
  inputSize: [number, number];
}

/** One input transformation of a defense: `name` in a spec, optionally followed by its parameter. */
export interface TransformDef {
  name: string;
  /** The parameter when the spec gives none; undefined for transforms that take no parameter. */
  defaultParam?: number;
  /** What the parameter means, for error messages and docs. */
  param: string;
  /** An error message when the parameter is out of range, else undefined. */
  check(param: number): string | undefined;
  apply(image: RgbImage, param: number | undefined, ctx: TransformContext): Promise<RgbImage>;
  /**
   * Estimated work for an image of `pixels` pixels becoming one of `outPixels`, in work units
   * (src/defense/cost.ts): about a millisecond of one core each, as measured on a 2-core host.
   */
  cost(param: number | undefined, pixels: number, outPixels: number): number;
  /** The output's pixel count when it is not the input's (resize-pad: fixed by the model's input size). */
  outPixels?(pixels: number, inputSize: [number, number]): number;
}

/** A plain RGB copy of the image's geometry with new pixels; alpha is kept (classification ignores it). */
export const withRgb = (image: RgbImage, rgb: Uint8Array): RgbImage => ({
  width: image.width,
  height: image.height,
  rgb,
  ...(image.alpha ? { alpha: image.alpha } : {}),
});
