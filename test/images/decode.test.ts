import t, { type Test } from 'tap';
import sharp from 'sharp';
import { ApiError } from '../../src/errors';
import { decodeImage, headerSize } from '../../src/images/decode';
import { encodePng } from '../../src/images/encode';
import { jpegWithHeaderSize, makePng, pngWithHeaderSize, truncate } from './fixtures';

const limits = { maxPixels: 1_000_000 };

async function rejectsWith(t: Test, p: Promise<unknown>, status: number, type: string) {
  try {
    await p;
    t.fail(`expected ${status} ${type}, got success`);
  } catch (err) {
    t.ok(err instanceof ApiError, `ApiError (got ${(err as Error).message})`);
    t.equal((err as ApiError).status, status);
    t.equal((err as ApiError).type, type);
  }
}

const rawOf = async (buf: Buffer) => (await sharp(buf).raw().toBuffer({ resolveWithObject: true }));

t.test('RGB PNG decodes to the exact pixels, no alpha', async (t) => {
  const png = await makePng(7, 5);
  const img = await decodeImage(png, limits);
  t.equal(img.width, 7);
  t.equal(img.height, 5);
  t.equal(img.alpha, undefined);
  t.same(Buffer.from(img.rgb), (await rawOf(png)).data);
});

t.test('RGBA PNG: alpha plane kept aside and re-attached by encodePng unchanged', async (t) => {
  const png = await makePng(6, 4, { alpha: true });
  const img = await decodeImage(png, limits);
  t.ok(img.alpha);
  t.equal(img.alpha!.length, 24);
  t.equal(img.rgb.length, 72);
  const { data } = await rawOf(png);
  for (let i = 0; i < 24; i++) {
    t.equal(img.alpha![i], data[i * 4 + 3]);
    t.equal(img.rgb[i * 3 + 1], data[i * 4 + 1]);
  }
  const again = await decodeImage(await encodePng(img), limits);
  t.same(again.rgb, img.rgb, 'round trip rgb');
  t.same(again.alpha, img.alpha, 'round trip alpha');
});

t.test('grey, 16-bit and palette PNGs come out as 8-bit RGB', async (t) => {
  const base = Buffer.alloc(4 * 2 * 3);
  for (let i = 0; i < base.length; i++) base[i] = (i * 40) & 255;
  const grey = await sharp(base, { raw: { width: 4, height: 2, channels: 3 } }).toColourspace('b-w').png().toBuffer();
  const g = await decodeImage(grey, limits);
  t.equal(g.rgb.length, 24);
  t.equal(g.rgb[0], g.rgb[1]);
  t.equal(g.rgb[1], g.rgb[2]);

  const png16 = await sharp(base, { raw: { width: 4, height: 2, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
  t.equal((await sharp(png16).metadata()).depth, 'ushort', 'fixture is 16-bit');
  const c = await decodeImage(png16, limits);
  t.same(Buffer.from(c.rgb), base, '16-bit reduced to the original 8-bit values');

  const rgba = Buffer.alloc(4 * 2 * 4, 200);
  rgba[3] = 0;
  const pal = await sharp(rgba, { raw: { width: 4, height: 2, channels: 4 } }).png({ palette: true }).toBuffer();
  const p = await decodeImage(pal, limits);
  t.ok(p.alpha, 'palette transparency becomes an alpha plane');
  t.equal(p.alpha![0], 0);
});

t.test('JPEG and WebP decode; EXIF orientation is applied', async (t) => {
  const png = await makePng(8, 4);
  const jpeg = await sharp(png).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  t.equal((await sharp(jpeg).metadata()).orientation, 6, 'the fixture carries orientation 6');
  const j = await decodeImage(jpeg, limits);
  t.equal(j.width, 4, 'orientation 6: width and height swapped');
  t.equal(j.height, 8);
  t.equal(j.rgb.length, 4 * 8 * 3);
  // Orientation 6 means "rotate 90 degrees clockwise to display": the stored bottom-left corner
  // becomes the displayed top-left. A left half white and a right half black, stored sideways,
  // displays with the white half on top.
  const halves = Buffer.alloc(8 * 4 * 3);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) halves.fill(255, (y * 8 + x) * 3, (y * 8 + x) * 3 + 3);
  const sideways = await sharp(halves, { raw: { width: 8, height: 4, channels: 3 } }).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer();
  const up = await decodeImage(sideways, limits);
  t.ok(up.rgb[0] > 200 && up.rgb[(7 * 4 + 3) * 3] < 50, 'top row white, bottom row black');
  const plain = await decodeImage(await sharp(png).jpeg().toBuffer(), limits);
  t.same([plain.width, plain.height], [8, 4], 'no orientation: as stored');
  const webp = await sharp(png).webp({ lossless: true }).toBuffer();
  const w = await decodeImage(webp, limits);
  t.same(Buffer.from(w.rgb), (await rawOf(png)).data, 'lossless WebP is exact');
});

t.test('animated WebP: first frame only', async (t) => {
  const red = await sharp({ create: { width: 4, height: 3, channels: 3, background: '#ff0000' } }).png().toBuffer();
  const green = await sharp({ create: { width: 4, height: 3, channels: 3, background: '#00ff00' } }).png().toBuffer();
  const anim = await sharp([red, green], { join: { animated: true } }).webp({ lossless: true }).toBuffer();
  const img = await decodeImage(anim, limits);
  t.equal(img.width, 4);
  t.equal(img.height, 3);
  t.same([img.rgb[0], img.rgb[1], img.rgb[2]], [255, 0, 0]);
});

t.test('pixel limit is checked from the header, before decoding', async (t) => {
  const huge = await pngWithHeaderSize(20000, 20000);
  t.ok(huge.length < 200, 'the fixture is tiny');
  const started = Date.now();
  await rejectsWith(t, decodeImage(huge, { maxPixels: 25_000_000 }), 413, 'image-too-large');
  t.ok(Date.now() - started < 1000, 'refused without decoding');
  const png = await makePng(10, 10);
  t.ok(await decodeImage(png, { maxPixels: 100 }), 'exactly at the limit is fine');
  await rejectsWith(t, decodeImage(png, { maxPixels: 99 }), 413, 'image-too-large');
});

t.test('anything that is not a whole PNG/JPEG/WebP is 415', async (t) => {
  const png = await makePng(64, 48);
  const jpeg = await sharp(png).jpeg().toBuffer();
  const webp = await sharp(png).webp().toBuffer();
  // Why failOn matters: libjpeg alone hands back a grey-filled image for a cut JPEG.
  t.ok(await sharp(truncate(jpeg), { failOn: 'none' }).raw().toBuffer(), 'sharp with failOn none accepts a truncated JPEG');
  await rejectsWith(t, decodeImage(truncate(png), limits), 415, 'unsupported-media-type');
  await rejectsWith(t, decodeImage(truncate(jpeg), limits), 415, 'unsupported-media-type');
  await rejectsWith(t, decodeImage(truncate(webp), limits), 415, 'unsupported-media-type');
  await rejectsWith(t, decodeImage(Buffer.from('this is a text file, not a png\n'), limits), 415, 'unsupported-media-type');
  await rejectsWith(t, decodeImage(Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5, 6, 7]), limits), 415, 'unsupported-media-type');
  await rejectsWith(t, decodeImage(Buffer.alloc(0), limits), 415, 'unsupported-media-type');
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>');
  await rejectsWith(t, decodeImage(svg, limits), 415, 'unsupported-media-type');
  const gif = await sharp(png).gif().toBuffer();
  await rejectsWith(t, decodeImage(gif, limits), 415, 'unsupported-media-type');
});

t.test('encodePng checks plane sizes', async (t) => {
  await t.rejects(encodePng({ width: 2, height: 2, rgb: new Uint8Array(11) }));
  await t.rejects(encodePng({ width: 2, height: 2, rgb: new Uint8Array(12), alpha: new Uint8Array(3) }));
  const png = await encodePng({ width: 2, height: 2, rgb: new Uint8Array(12).fill(9) });
  t.equal((await sharp(png).metadata()).format, 'png');
});

t.test('65535x65535 headers (PNG, and JPEG past libjpeg\'s own 65500 limit): 413, not 415', async (t) => {
  const png = await pngWithHeaderSize(65535, 65535);
  const jpeg = await jpegWithHeaderSize(65535, 65535);
  t.same(headerSize(jpeg), { width: 65535, height: 65535 });
  t.same(headerSize(png), { width: 65535, height: 65535 });
  t.equal(headerSize(Buffer.from('not an image')), undefined);
  await rejectsWith(t, decodeImage(png, { maxPixels: 25_000_000 }), 413, 'image-too-large');
  await rejectsWith(t, decodeImage(jpeg, { maxPixels: 25_000_000 }), 413, 'image-too-large');
  await rejectsWith(t, decodeImage(await jpegWithHeaderSize(65535, 1), { maxPixels: 25_000_000 }), 415, 'unsupported-media-type');
  await rejectsWith(t, decodeImage(truncate(await sharp(await makePng(8, 8)).jpeg().toBuffer(), 0.3), limits), 415, 'unsupported-media-type');
});
