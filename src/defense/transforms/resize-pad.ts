/**
 * Random resizing and padding (Xie et al. 2018, "Mitigating adversarial effects through
 * randomization"). For a 299x299 model: resize the image (nearest neighbour, as the paper's
 * tf.image.resize_images NEAREST_NEIGHBOR) to r x r with r drawn uniformly from the integers in
 * [310, 331), then place it at a random offset in a 331 x 331 zero image. For other models
 * every size is scaled by inputSize / 299 per axis (224: r in [232, 248), padded to 248). The
 * model then resizes the padded image to its input size as usual. Alpha is dropped (the size changes).
 */
import type { RgbImage } from '../../images/types';

export const RESIZE_MIN = 310;
export const RESIZE_MAX = 331; // exclusive for the resize, and the padded size
export const RESIZE_BASE = 299;

/** Nearest-neighbour resize with TF1's convention (no align_corners, no half-pixel centres). */
export function resizeNearest(image: RgbImage, width: number, height: number): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(image.height - 1, Math.floor((y * image.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(image.width - 1, Math.floor((x * image.width) / width));
      const s = (sy * image.width + sx) * 3;
      const d = (y * width + x) * 3;
      rgb[d] = image.rgb[s];
      rgb[d + 1] = image.rgb[s + 1];
      rgb[d + 2] = image.rgb[s + 2];
    }
  }
  return { width, height, rgb };
}

export interface ResizePadPlan {
  /** Size of the resized content. */
  width: number;
  height: number;
  /** Size of the padded output. */
  outWidth: number;
  outHeight: number;
  /** Offset of the content in the output. */
  left: number;
  top: number;
}

/** The padded output's size for a model of this input size: it does not depend on the draws. */
export function paddedSize([ih, iw]: [number, number]): { width: number; height: number } {
  return { width: Math.round((RESIZE_MAX * iw) / RESIZE_BASE), height: Math.round((RESIZE_MAX * ih) / RESIZE_BASE) };
}

/** The random choices, drawn in a fixed order: r, then top, then left. */
export function planResizePad(inputSize: [number, number], random: () => number): ResizePadPlan {
  const r = RESIZE_MIN + Math.floor(random() * (RESIZE_MAX - RESIZE_MIN));
  const [ih, iw] = inputSize;
  const height = Math.round((r * ih) / RESIZE_BASE);
  const width = Math.round((r * iw) / RESIZE_BASE);
  const { width: outWidth, height: outHeight } = paddedSize(inputSize);
  const top = Math.floor(random() * (outHeight - height + 1));
  const left = Math.floor(random() * (outWidth - width + 1));
  return { width, height, outWidth, outHeight, left, top };
}

export function resizePad(image: RgbImage, inputSize: [number, number], random: () => number): RgbImage {
  const plan = planResizePad(inputSize, random);
  const small = resizeNearest(image, plan.width, plan.height);
  const rgb = new Uint8Array(plan.outWidth * plan.outHeight * 3);
  const rowBytes = plan.width * 3;
  for (let y = 0; y < plan.height; y++) {
    const d = ((plan.top + y) * plan.outWidth + plan.left) * 3;
    rgb.set(small.rgb.subarray(y * rowBytes, (y + 1) * rowBytes), d);
  }
  return { width: plan.outWidth, height: plan.outHeight, rgb };
}
