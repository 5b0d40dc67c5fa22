/**
 * Bit-depth reduction (Xu et al. 2018, "Feature Squeezing"): each 8-bit value x becomes
 * round(round(x / 255 * (2^b - 1)) / (2^b - 1) * 255), i.e. the nearest of 2^b evenly spaced
 * levels, written back on the 0..255 scale. (No value lands on a .5 tie in either rounding, so
 * JS and numpy rounding agree.)
 */
import type { RgbImage } from '../../images/types';
import { withRgb } from './types';

export function bitDepthTable(bits: number): Uint8Array {
  const levels = 2 ** bits - 1;
  const lut = new Uint8Array(256);
  for (let x = 0; x < 256; x++) lut[x] = Math.round((Math.round((x / 255) * levels) / levels) * 255);
  return lut;
}

export function reduceBits(image: RgbImage, bits: number): RgbImage {
  const lut = bitDepthTable(bits);
  const rgb = new Uint8Array(image.rgb.length);
  for (let i = 0; i < rgb.length; i++) rgb[i] = lut[image.rgb[i]];
  return withRgb(image, rgb);
}
