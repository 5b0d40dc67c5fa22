/** A fake engine whose predictions follow the pixels, for the eval tests. */
import sharp from 'sharp';
import type { AttackOutcome, AttackParams } from '../../src/engine/types';
import type { RgbImage } from '../../src/images/types';
import { FakeEngine } from '../helpers/fake-engine';

/**
 * fake_a reads the red value, fake_b the green one: class floor(v / 40) (capped at 4). Clean
 * images are grey, so both agree; the attack sets the whole red plane to 40 * aim + 10 (aim =
 * the target, or class 0 untargeted), so fake_a follows the attack and fake_b keeps the clean label.
 */
export class PixelEngine extends FakeEngine {
  constructor() {
    super({ predict: (img: RgbImage, model: string) => Math.min(4, Math.floor(img.rgb[model === 'fake_a' ? 0 : 1] / 40)) });
  }

  override async attack(image: RgbImage, params: AttackParams): Promise<AttackOutcome> {
    const out = await super.attack(image, params);
    const rgb = new Uint8Array(image.rgb);
    for (let i = 0; i < rgb.length; i += 3) rgb[i] = 40 * (params.target ?? 0) + 10;
    return { ...out, image: { ...out.image, rgb } };
  }
}

export const grey = (v: number, w = 6, h = 5) => sharp({ create: { width: w, height: h, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer();

export const greyImage = (v: number, w = 6, h = 5): RgbImage => ({ width: w, height: h, rgb: new Uint8Array(w * h * 3).fill(v) });
