import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { isError } from '../../helpers/errors.js';
import { noise, rawImage } from '../../helpers/images.js';
import type { Poster } from '../../../src/image/poster.js';
import { recycleBuffer } from '../../../src/image/buffers.js';
import {
  MAX_ASPECT,
  jitterColours,
  normalizationTables,
  parseView,
  parseViews,
  reduceRows,
  renderView,
  viewName,
  enlarge,
  viewPasses,
  writeCrop,
} from '../../../src/image/views.js';

/** A 2:3 poster whose red channel encodes x and green encodes y, so crops show where they came from. */
function gradientPoster(width = 60, height = 90): Poster {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      pixels[p] = Math.round((x / (width - 1)) * 255);
      pixels[p + 1] = Math.round((y / (height - 1)) * 255);
      pixels[p + 2] = 128;
    }
  }
  return { source: 'gradient', contentHash: 'ab'.repeat(32), width, height, pixels };
}

const input = { height: 32, width: 32, policy: 'squash', kernel: 'linear' } as const;
const at = (crop: Buffer, x: number, y: number, c: number) => crop[(y * 32 + x) * 3 + c]!;

test('view names and specs round-trip, and sets expand', () => {
  for (const name of ['native', 'full', 'crop-top', 'crop-center', 'crop-bottom', 'tiles-1.5x', 'tiles-3x', 'aug-7']) {
    assert.equal(viewName(parseView(name)), name);
  }
  assert.deepEqual(parseViews('tiles,full,tiles-2x').map(viewName), ['tiles-1.5x', 'tiles-2x', 'tiles-3x', 'full']);
});

test('BAD CALL - unknown view names say what is valid', () => {
  assert.throws(() => parseView('flip'), /Expected native, full, crop-top\|center\|bottom, tiles-<zoom>x \(1-4\), aug-<seed> for view but received string "flip"/);
  assert.throws(() => parseView('tiles-9x'), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => parseViews(''), /for views/);
});

test('full squashes the whole poster; crops come from the top, centre and bottom', async () => {
  const poster = gradientPoster();
  const [full] = await renderView(poster, { kind: 'full' }, input);
  assert.equal(full!.length, 32 * 32 * 3);
  assert.ok(at(full!, 0, 0, 1) < 10 && at(full!, 0, 31, 1) > 245, 'full covers the whole height');
  const [top] = await renderView(poster, { kind: 'crop', anchor: 'top' }, input);
  const [bottom] = await renderView(poster, { kind: 'crop', anchor: 'bottom' }, input);
  const [centre] = await renderView(poster, { kind: 'crop', anchor: 'center' }, input);
  assert.ok(at(top!, 16, 0, 1) < 10 && at(top!, 16, 31, 1) < 180, 'top crop stops two thirds down');
  assert.ok(at(bottom!, 16, 31, 1) > 245 && at(bottom!, 16, 0, 1) > 75);
  assert.ok(Math.abs(at(centre!, 16, 16, 1) - 128) < 12);
  // No flips: left stays left.
  for (const crop of [full!, top!, bottom!, centre!]) assert.ok(at(crop, 0, 16, 0) < at(crop, 31, 16, 0));
});

test('tiles cover the enlarged poster with evenly spaced input-size tiles', async () => {
  const poster = gradientPoster();
  const tiles2 = await renderView(poster, { kind: 'tiles', zoom: 2 }, input); // 64x96 -> 2 x 3 tiles
  assert.equal(tiles2.length, 6);
  const tiles3 = await renderView(poster, { kind: 'tiles', zoom: 3 }, input); // 96x144 -> 3 x 5 tiles
  assert.equal(tiles3.length, 15);
  // Row-major order: the first tile is the top-left corner, the last the bottom-right.
  assert.ok(at(tiles2[0]!, 0, 0, 0) < 10 && at(tiles2[0]!, 0, 0, 1) < 10);
  assert.ok(at(tiles2[5]!, 31, 31, 0) > 245 && at(tiles2[5]!, 31, 31, 1) > 245);
});

test('native follows the backbone policy: shorter-side-crop keeps the centre square', async () => {
  const poster = gradientPoster();
  const [crop] = await renderView(poster, { kind: 'native' }, { ...input, policy: 'shorter-side-crop', kernel: 'cubic' });
  // The centre 60x60 of 60x90 spans rows 15..75: green from about 43 to 214.
  assert.ok(Math.abs(at(crop!, 16, 0, 1) - 43) < 8 && Math.abs(at(crop!, 16, 31, 1) - 214) < 8);
});

test('augmentations are deterministic per seed and poster, and differ across seeds', async () => {
  const poster = gradientPoster();
  const [a1] = await renderView(poster, { kind: 'aug', seed: 1 }, input);
  const [a1again] = await renderView(poster, { kind: 'aug', seed: 1 }, input);
  const [a2] = await renderView(poster, { kind: 'aug', seed: 2 }, input);
  assert.deepEqual(a1, a1again);
  assert.notDeepEqual(a1, a2);
  // Mild: still a left-to-right gradient, never a flip.
  assert.ok(at(a1!, 2, 16, 0) < at(a1!, 29, 16, 0));
});

test('writeCrop normalises into NCHW planes and NHWC pixels', () => {
  const tables = normalizationTables({ scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.25, 1] });
  const crop = Buffer.from([255, 0, 51, 0, 255, 102]); // 2 pixels
  const nchw = new Float32Array(12);
  writeCrop(crop, tables, 'NCHW', nchw, 1);
  assert.deepEqual(Array.from(nchw.slice(6)).map((v) => +v.toFixed(4)), [1, -1, -2, 2, -0.3, -0.1]);
  const nhwc = new Float32Array(6);
  writeCrop(crop, tables, 'NHWC', nhwc, 0);
  assert.deepEqual(Array.from(nhwc).map((v) => +v.toFixed(4)), [1, -2, -0.3, -1, 2, -0.1]);
});

test('jitterColours with neutral factors leaves the crop unchanged', () => {
  const crop = Buffer.from([10, 20, 30, 200, 100, 50]);
  jitterColours(crop, 1, 1, 1);
  assert.deepEqual([...crop], [10, 20, 30, 200, 100, 50]);
  jitterColours(crop, 1, 1, 0);
  assert.equal(crop[0], crop[1]);
});

test('the native view gives exactly sharp\'s linear resize, in process up to 1.5x and through sharp beyond', async () => {
  const model = { height: 224, width: 224, policy: 'squash', kernel: 'linear' } as const;
  for (const height of [224, 225, 233, 280, 312, 317, 332, 336, 400, 447]) {
    const pixels = rawImage(224, height, noise(height));
    const poster: Poster = { source: `noise-${height}`, contentHash: 'cd'.repeat(32), width: 224, height, pixels };
    const reference = await sharp(pixels, { raw: { width: 224, height, channels: 3 } }).resize(224, 224, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
    const [native] = await renderView(poster, { kind: 'native' }, model);
    assert.ok(native!.equals(reference), `native view of a 224x${height} poster differs from sharp`);
    if (height > 224 && height <= 336) assert.ok(reduceRows(pixels, 224, height, 224).equals(reference));
  }
});

test('narrower and shorter posters are squashed in process exactly as sharp does it (rows shrink first)', async () => {
  const model = { height: 224, width: 224, policy: 'squash', kernel: 'linear' } as const;
  // 211 wide is a width whose vertical step (1/a)*a falls one ulp under 1 in libvips' arithmetic.
  for (const [width, height] of [[211, 336], [185, 336], [223, 317], [180, 224], [120, 300], [43, 336], [200, 225], [224, 200], [190, 160]] as const) {
    const pixels = rawImage(width, height, noise(width * 7 + height));
    const poster: Poster = { source: `noise-${width}x${height}`, contentHash: 'cd'.repeat(32), width, height, pixels };
    const reference = await sharp(pixels, { raw: { width, height, channels: 3 } }).resize(224, 224, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
    const [native] = await renderView(poster, { kind: 'native' }, model);
    assert.ok(native!.equals(reference), `native view of a ${width}x${height} poster differs from sharp`);
  }
  const row = rawImage(10, 2, noise(3));
  const widened = await sharp(row, { raw: { width: 10, height: 2, channels: 3 } }).resize(12, 2, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
  assert.ok(enlarge(row, 10, 2, 12, 2).equals(widened));
  assert.ok(enlarge(row, 10, 2, 10, 2).equals(row));
  assert.throws(() => enlarge(row, 10, 2, 9, 2), /Expected a whole number from 10 for outWidth but received/);
});

test('tiles enlarge in process exactly as sharp does, so their crops are sharp\'s crops', async () => {
  const model = { height: 224, width: 224, policy: 'squash', kernel: 'linear' } as const;
  for (const [width, height] of [[224, 336], [211, 336], [185, 336], [224, 317], [224, 224]] as const) {
    const pixels = rawImage(width, height, noise(width + 3 * height));
    const poster: Poster = { source: `noise-${width}x${height}`, contentHash: 'cd'.repeat(32), width, height, pixels };
    for (const zoom of [1, 1.5, 2, 3]) {
      const scale = Math.max((zoom * 224) / width, 224 / height, 224 / width);
      const [W, H] = [Math.round(width * scale), Math.round(height * scale)];
      const big = await sharp(pixels, { raw: { width, height, channels: 3 } }).resize(W, H, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
      assert.ok(enlarge(pixels, width, height, W, H).equals(big), `${width}x${height} enlarged to ${W}x${H} differs from sharp`);
      const crops = await renderView(poster, { kind: 'tiles', zoom }, model);
      // The last tile sits in the bottom-right corner of the enlarged poster.
      const last = crops[crops.length - 1]!;
      for (const y of [0, 111, 223]) {
        const from = ((H - 224 + y) * W + (W - 224)) * 3;
        assert.ok(last.subarray(y * 224 * 3, (y + 1) * 224 * 3).equals(big.subarray(from, from + 224 * 3)), `tiles-${zoom}x of ${width}x${height}, row ${y}`);
      }
    }
  }
});

test('BAD CALL - posters beyond the aspect-ratio bound are refused by every view, quickly', async () => {
  // A 10x10000 strip decodes (maxSide 1024) to 1x1024; tiles used to enlarge it to 224 px wide and ~230k px tall.
  const strip: Poster = { source: 'strip.png', contentHash: 'ef'.repeat(32), width: 1, height: 1024, pixels: Buffer.alloc(1024 * 3, 90) };
  for (const view of ['native', 'tiles-2x', 'tiles-1.5x', 'crop-top', 'aug-1'].map(parseView)) {
    await assert.rejects(renderView(strip, view, input), isError('IMAGE_UNSUPPORTED', 'strip.png', /^strip\.png: aspect ratio 1024:1 \(1x1024 decoded\) is beyond 8:1/));
  }
  const wide: Poster = { ...gradientPoster(90, 10), source: 'banner.png' };
  await assert.rejects(renderView(wide, { kind: 'full' }, input), isError('IMAGE_UNSUPPORTED', 'banner.png', /aspect ratio 9\.0:1/));
  // At the bound, tiles stay bounded: zoom^2 * MAX_ASPECT crops at most.
  const tall = gradientPoster(8, 8 * MAX_ASPECT);
  assert.ok((await renderView(tall, { kind: 'tiles', zoom: 2 }, input)).length <= 4 * MAX_ASPECT);
});

test('viewPasses counts the crops renderView gives, before decoding, for every shape', async () => {
  const shapes: Array<[number, number]> = [[60, 90], [90, 60], [32, 32], [20, 150], [150, 20], [31, 33], [40, 320]];
  for (const [w, h] of shapes) {
    const poster = gradientPoster(w, h);
    for (const name of ['native', 'full', 'crop-top', 'tiles-1.5x', 'tiles-2x', 'tiles-3x', 'tiles-4x', 'aug-3']) {
      const view = parseView(name);
      assert.equal(viewPasses(view, w, h, input), (await renderView(poster, view, input)).length, `${name} on ${w}x${h}`);
    }
  }
  // Beyond the aspect bound every view refuses the poster: it costs no pass.
  assert.equal(viewPasses(parseView('tiles-4x'), 10, 10_000, input), 0);
  assert.equal(viewPasses(parseView('native'), 0, 10, input), 0);
});

test('recycled crops are rendered into again, and every crop still holds its own view', async () => {
  const a = gradientPoster(60, 90);
  const b: Poster = { ...gradientPoster(48, 90), source: 'other', pixels: rawImage(48, 90, noise(7)) };
  const views = parseViews('native,tiles-2x,crop-top');
  const expected = await Promise.all(views.map((view) => renderView(b, view, input)));
  const copies = expected.map((crops) => crops.map((crop) => Buffer.from(crop)));
  // Hand back a's crops, then render b again: b's crops land in a's buffers.
  const first = (await Promise.all(views.map((view) => renderView(a, view, input)))).flat();
  first.forEach(recycleBuffer);
  const again = await Promise.all(views.map((view) => renderView(b, view, input)));
  const reused = again.flat().filter((crop) => first.some((old) => old.buffer === crop.buffer && old.byteOffset === crop.byteOffset));
  assert.ok(reused.length > 0, 'some crops reuse a recycled buffer');
  again.forEach((crops, v) => crops.forEach((crop, i) => assert.ok(crop.equals(copies[v]![i]!), `${viewName(views[v]!)}[${i}]`)));
  // Two crops in flight never share a buffer.
  const all = again.flat();
  for (let i = 0; i < all.length; i++) for (let j = i + 1; j < all.length; j++) assert.ok(all[i]!.buffer !== all[j]!.buffer || all[i]!.byteOffset !== all[j]!.byteOffset, `crops ${i} and ${j} share memory`);
});
