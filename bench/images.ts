/**
 * Bench inputs: a deterministic synthetic 512x384 pattern (the default), or real photos from
 * a folder (--images DIR), cover-resized to 512x384 in memory. Nothing is copied anywhere.
 */
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '../src/images/types';

export const BENCH_WIDTH = 512;
export const BENCH_HEIGHT = 384;

/**
 * Smooth colour pattern, different per index; the same formula as bench/pytorch_step.py
 * (values only matter for the attack's outcome, not for the timing of dense kernels).
 */
export function syntheticImage(index: number, width = BENCH_WIDTH, height = BENCH_HEIGHT): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const v = 127.5 + 100 * Math.sin(x / 23 + c * 2.1 + index) * Math.cos(y / 17 - c + index * 0.5);
        rgb[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { width, height, rgb };
}

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

/** The first `count` images of a folder (sorted by name), cover-resized to 512x384 RGB. */
export async function folderImages(dir: string, count: number): Promise<{ images: RgbImage[]; names: string[] }> {
  const files = (await readdir(dir)).filter((f) => IMAGE_EXT.has(extname(f).toLowerCase())).sort();
  if (files.length === 0) throw new Error(`--images ${dir}: no image files found`);
  const names = files.slice(0, count);
  const images: RgbImage[] = [];
  for (const name of names) {
    const { data, info } = await sharp(join(dir, name))
      .rotate()
      .removeAlpha()
      .resize(BENCH_WIDTH, BENCH_HEIGHT, { fit: 'cover' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${name}: expected 3 channels after removeAlpha, got ${info.channels}`);
    images.push({ width: info.width, height: info.height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.length) });
  }
  return { images, names };
}

/** `count` bench images: from the folder when given (cycled if it has fewer), else synthetic. */
export async function benchImages(dir: string | undefined, count: number): Promise<{ images: RgbImage[]; source: string }> {
  if (!dir) {
    return {
      images: Array.from({ length: count }, (_, i) => syntheticImage(i)),
      source: `synthetic ${BENCH_WIDTH}x${BENCH_HEIGHT} pattern`,
    };
  }
  const { images, names } = await folderImages(dir, count);
  const out = Array.from({ length: count }, (_, i) => images[i % images.length]);
  return { images: out, source: `${dir} (${names.length} file(s) from ${names[0]}, cover-resized to ${BENCH_WIDTH}x${BENCH_HEIGHT})` };
}
