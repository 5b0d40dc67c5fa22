import sharp from 'sharp';
import type { RgbImage } from './types';

/** Encodes an RgbImage as an 8-bit PNG, re-attaching the alpha plane when there is one. */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  const n = img.width * img.height;
  if (img.rgb.length !== n * 3) throw new Error(`encodePng: rgb has ${img.rgb.length} bytes, expected ${n * 3}`);
  if (img.alpha && img.alpha.length !== n) throw new Error(`encodePng: alpha has ${img.alpha.length} bytes, expected ${n}`);

  let raw: Buffer;
  if (img.alpha) {
    raw = Buffer.allocUnsafe(n * 4);
    for (let i = 0, s = 0, d = 0; i < n; i++, s += 3, d += 4) {
      raw[d] = img.rgb[s];
      raw[d + 1] = img.rgb[s + 1];
      raw[d + 2] = img.rgb[s + 2];
      raw[d + 3] = img.alpha[i];
    }
  } else {
    raw = Buffer.from(img.rgb.buffer, img.rgb.byteOffset, img.rgb.byteLength);
  }
  return sharp(raw, { raw: { width: img.width, height: img.height, channels: img.alpha ? 4 : 3 } })
    .png()
    .toBuffer();
}
