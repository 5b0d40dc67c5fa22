import sharp from 'sharp';
import { imageTooLarge, unsupportedMedia } from '../errors';
import type { RgbImage } from './types';

export interface DecodeLimits {
  /** Largest width*height accepted (413 beyond). */
  maxPixels: number;
}

/** Formats the service accepts. sharp can also read SVG, GIF, TIFF, HEIF, PDF...; those are refused on purpose. */
const ACCEPTED = new Set(['png', 'jpeg', 'webp']);

/**
 * Decodes a PNG/JPEG/WebP upload to 8-bit RGB plus an optional alpha plane.
 *
 * - The size check reads only the header (sharp metadata does not decode pixels), so a
 *   small file that claims 20000x20000 is refused before any large allocation.
 * - Truncated or corrupt data fails (failOn 'error' implies 'truncated'): libjpeg otherwise
 *   returns a partly grey image for a truncated JPEG with only a warning.
 * - EXIF orientation is applied (sharp's rotate() with no angle): a phone photo stored
 *   sideways with orientation 6 decodes upright, with width and height swapped, so the
 *   adversarial PNG (which carries no EXIF) displays the way the upload did. The output is
 *   pixel-aligned with the upright image, not with the bytes as stored.
 * - Animated / multi-page images: the first frame only.
 */
export async function decodeImage(buf: Buffer | Uint8Array, limits: DecodeLimits): Promise<RgbImage> {
  const input = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (input.length === 0) throw unsupportedMedia('The image is empty.');

  let meta: sharp.Metadata;
  try {
    // limitInputPixels: false so that an oversized header yields our 413, not a sharp error.
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch {
    throw unsupportedMedia('The upload is not a readable PNG, JPEG or WebP image.');
  }
  if (!meta.format || !ACCEPTED.has(meta.format)) {
    throw unsupportedMedia(`Image format "${meta.format ?? 'unknown'}" is not accepted; send PNG, JPEG or WebP.`);
  }
  // Orientations 5-8 turn the image by 90 degrees: the decoded image is height x width.
  const turned = meta.orientation !== undefined && meta.orientation >= 5 && meta.orientation <= 8;
  const storedWidth = meta.width ?? 0;
  const storedHeight = meta.pageHeight ?? meta.height ?? 0;
  const [width, height] = turned ? [storedHeight, storedWidth] : [storedWidth, storedHeight];
  if (width <= 0 || height <= 0) throw unsupportedMedia('The image has no pixels.');
  if (width * height > limits.maxPixels) {
    throw imageTooLarge(`The image is ${width}x${height} = ${width * height} pixels; the limit is ${limits.maxPixels}.`);
  }

  const hasAlpha = meta.hasAlpha === true;
  let data: Buffer;
  let info: sharp.OutputInfo;
  try {
    let pipeline = sharp(input, { failOn: 'error', limitInputPixels: limits.maxPixels, pages: 1, page: 0 })
      .rotate() // EXIF orientation
      // Grey, grey+alpha, palette and CMYK inputs all come out as sRGB; 16-bit goes to 8-bit.
      .toColourspace('srgb');
    pipeline = hasAlpha ? pipeline.ensureAlpha() : pipeline.removeAlpha();
    ({ data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }));
  } catch {
    throw unsupportedMedia('The image could not be decoded (truncated or corrupt).');
  }

  const channels = hasAlpha ? 4 : 3;
  if (info.channels !== channels || info.width !== width || info.height !== height || data.length !== width * height * channels) {
    // Would be a sharp behaviour change; refuse rather than hand misaligned planes to the engine.
    throw unsupportedMedia('The image decoded to an unexpected layout.');
  }
  if (!hasAlpha) return { width, height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.length) };

  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  const alpha = new Uint8Array(n);
  for (let i = 0, s = 0, d = 0; i < n; i++, s += 4, d += 3) {
    rgb[d] = data[s];
    rgb[d + 1] = data[s + 1];
    rgb[d + 2] = data[s + 2];
    alpha[i] = data[s + 3];
  }
  return { width, height, rgb, alpha };
}
