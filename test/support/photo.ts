/**
 * A real-looking test photo: the dog photo from the shared evaluation set when it is there
 * (ADVSERVE_EVAL_IMAGES, default ../shared/eval-images; never copied into the repo), else a
 * synthetic 512x384 scene rendered from SVG so the test still runs on the real models.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';

export function evalImagesDir(): string {
  return resolve(process.env.ADVSERVE_EVAL_IMAGES ?? join(__dirname, '..', '..', '..', 'shared', 'eval-images'));
}

const SCENE = `<svg xmlns="http://www.w3.org/2000/svg" width="512" height="384">
  <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#7fb2e5"/><stop offset="1" stop-color="#d8e8f0"/></linearGradient></defs>
  <rect width="512" height="384" fill="url(#sky)"/>
  <rect y="250" width="512" height="134" fill="#5d7f3a"/>
  <circle cx="420" cy="70" r="40" fill="#f4d35e"/>
  <ellipse cx="230" cy="260" rx="110" ry="55" fill="#8b5a2b"/>
  <circle cx="330" cy="215" r="45" fill="#7a4a21"/>
  <rect x="150" y="290" width="22" height="60" fill="#6b4020"/><rect x="280" y="290" width="22" height="60" fill="#6b4020"/>
</svg>`;

/** PNG or JPEG bytes of a 512x384-ish photo. */
export async function testPhoto(): Promise<{ bytes: Buffer; name: string }> {
  const file = join(evalImagesDir(), 'photo_dog.jpg');
  if (existsSync(file)) return { bytes: await readFile(file), name: 'photo_dog.jpg' };
  const bytes = await sharp(Buffer.from(SCENE)).blur(1.2).jpeg({ quality: 90 }).toBuffer();
  return { bytes, name: 'synthetic-scene.jpg' };
}
