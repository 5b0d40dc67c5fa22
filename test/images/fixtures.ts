/** Image fixtures built in memory with sharp (no files checked in). */
import sharp from 'sharp';

/** A w x h PNG with a known pattern; with alpha, the alpha plane is a different known pattern. */
export async function makePng(width: number, height: number, opts: { alpha?: boolean } = {}): Promise<Buffer> {
  const channels = opts.alpha ? 4 : 3;
  const raw = Buffer.alloc(width * height * channels);
  for (let p = 0; p < width * height; p++) {
    raw[p * channels] = (p * 7) & 255;
    raw[p * channels + 1] = (p * 13 + 50) & 255;
    raw[p * channels + 2] = (p * 29 + 100) & 255;
    if (opts.alpha) raw[p * channels + 3] = (p * 17 + 3) & 255;
  }
  return sharp(raw, { raw: { width, height, channels } }).png().toBuffer();
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A tiny valid-looking PNG whose IHDR claims width x height (default 20000 x 20000): a real 1x1
 * PNG with the IHDR dimensions patched and its CRC recomputed. Decoding it would need gigabytes;
 * reading its header costs nothing.
 */
export async function pngWithHeaderSize(width = 20000, height = 20000): Promise<Buffer> {
  const png = Buffer.from(await makePng(1, 1));
  // signature(8) | length(4) 'IHDR'(4) width(4) height(4) ... | crc(4) at 29
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

export const truncate = (buf: Buffer, fraction = 0.6) => buf.subarray(0, Math.floor(buf.length * fraction));

/**
 * A small JPEG whose frame header (SOF) claims width x height, up to 65535 a side (libjpeg
 * itself refuses more than 65500 before reporting a size).
 */
export async function jpegWithHeaderSize(width = 65535, height = 65535): Promise<Buffer> {
  const jpeg = Buffer.from(await sharp(await makePng(8, 8)).jpeg().toBuffer());
  for (let i = 2; i + 9 < jpeg.length; i++) {
    if (jpeg[i] === 0xff && (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2)) {
      jpeg.writeUInt16BE(height, i + 5);
      jpeg.writeUInt16BE(width, i + 7);
      return jpeg;
    }
  }
  throw new Error('no SOF marker in the fixture JPEG');
}
