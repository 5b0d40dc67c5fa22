import sharp from 'sharp';
import { imageTooLarge, unsupportedMedia } from '../errors';
import type { RgbImage } from './types';

export interface DecodeLimits {
  /** Largest width*height accepted (413 beyond). */
  maxPixels: number;
  /** The 413 for an image over maxPixels, when the caller has a more telling one (which limit, and why). */
  tooLarge?: (width: number, height: number) => Error;
}

export interface ImageHeader {
  /** Upright size (EXIF orientation applied). */
  width: number;
  height: number;
  hasAlpha: boolean;
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
  const { width, height, hasAlpha } = await probeImage(input, limits);
  return decodePixels(input, width, height, hasAlpha, limits);
}

/**
 * Reads the header only (format, upright size) and refuses what decodeImage would refuse before
 * decoding: not PNG/JPEG/WebP (415), no pixels (415), over limits.maxPixels (413). Cheap: no
 * pixel is decoded, so a caller can admit work by image size before paying for the decode.
 */
export async function probeImage(buf: Buffer | Uint8Array, limits: DecodeLimits): Promise<ImageHeader> {
  const input = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (input.length === 0) throw unsupportedMedia('The image is empty.');
  const tooLarge = limits.tooLarge;
  let meta: sharp.Metadata;
  try {
    // limitInputPixels: false so that an oversized header yields our 413, not a sharp error.
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch {
    // libjpeg refuses headers over 65500 pixels a side before sharp reports a size: read the size
    // from the header ourselves, so that an oversized image is a 413 like any other.
    const declared = headerSize(input);
    if (declared && declared.width * declared.height > limits.maxPixels) {
      if (tooLarge) throw tooLarge(declared.width, declared.height);
      throw imageTooLarge(`The image header declares ${declared.width}x${declared.height} = ${declared.width * declared.height} pixels; the limit is ${limits.maxPixels}.`);
    }
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
    if (tooLarge) throw tooLarge(width, height);
    throw imageTooLarge(`The image is ${width}x${height} = ${width * height} pixels; the limit is ${limits.maxPixels}.`);
  }
  return { width, height, hasAlpha: meta.hasAlpha === true };
}

async function decodePixels(input: Buffer, width: number, height: number, hasAlpha: boolean, limits: DecodeLimits): Promise<RgbImage> {
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

/** JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the size. */
const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/**
 * The width and height a PNG (IHDR) or JPEG (first SOF segment) header declares, without any
 * decoder; undefined when the bytes are neither or the header is cut short.
 */
export function headerSize(buf: Buffer): { width: number; height: number } | undefined {
  if (buf.length >= 24 && buf.readUInt32BE(0) === 0x89504e47 && buf.toString('latin1', 12, 16) === 'IHDR') {
    return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
  }
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 4 <= buf.length) {
    if (buf[i] !== 0xff) return undefined;
    const marker = buf[i + 1];
    if (marker === 0xff) {
      i += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2; // markers without a length
      continue;
    }
    const length = buf.readUInt16BE(i + 2);
    if (SOF_MARKERS.has(marker)) {
      if (i + 9 > buf.length) return undefined;
      return { height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) };
    }
    if (marker === 0xd9 || marker === 0xda || length < 2) return undefined; // end of image / scan before any frame
    i += 2 + length;
  }
  return undefined;
}
