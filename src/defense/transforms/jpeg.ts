/**
 * JPEG compression (Dziugaite et al. 2016; Guo et al. 2018): encode at the given quality with
 * sharp (libjpeg-turbo, 4:2:0 chroma subsampling, the usual PIL-like defaults) and decode again.
 */
import sharp from 'sharp';
import type { RgbImage } from '../../images/types';
import { withRgb } from './types';

export async function jpegRoundTrip(image: RgbImage, quality: number): Promise<RgbImage> {
  const raw = Buffer.from(image.rgb.buffer, image.rgb.byteOffset, image.rgb.byteLength);
  const jpeg = await sharp(raw, { raw: { width: image.width, height: image.height, channels: 3 } }).jpeg({ quality }).toBuffer();
  const { data, info } = await sharp(jpeg).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== image.width || info.height !== image.height || info.channels !== 3) {
    throw new Error(`jpeg round trip changed the layout: ${info.width}x${info.height}x${info.channels}`);
  }
  return withRgb(image, new Uint8Array(data.buffer, data.byteOffset, data.length));
}
