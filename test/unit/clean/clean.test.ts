/**
 * Cleaning end to end in the library: detector + mask + in-painting on
 * synthetic posters with known text, and the embedding pipeline keeping
 * cleaned posters' vectors apart in the cache.
 */
import assert from 'node:assert/strict';
import { appendFile, readFile, readdir } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { BoxCache } from '../../../src/ocr/box-cache.js';
import { type PosterCleaner, loadCleaner } from '../../../src/clean/clean.js';
import { buildMask } from '../../../src/clean/mask.js';
import type { Poster } from '../../../src/image/poster.js';
import { isError } from '../../helpers/errors.js';
import { makeTempDir } from '../../helpers/images.js';
import { matchBoxes, renderTextPoster } from '../../helpers/text-posters.js';

const OFFLINE = { mirrors: [], offline: true, cacheDir: '/nonexistent-posterscope-cache' };
let cleaner: PosterCleaner;

before(async () => {
  cleaner = await loadCleaner({}, OFFLINE);
});

after(() => cleaner?.release());

function asPoster(sample: { pixels: Buffer; width: number; height: number }, seed: number): Poster {
  return { source: `synthetic-${seed}.png`, contentHash: `hash-${seed}`, width: sample.width, height: sample.height, pixels: sample.pixels };
}

test('after cleaning, the detector finds <= 10% of the original text lines, and only masked pixels changed', async () => {
  let truth = 0;
  let refound = 0;
  for (let seed = 201; seed <= 206; seed++) {
    const sample = await renderTextPoster(seed);
    const { poster, boxes, maskedPixels } = await cleaner.clean(asPoster(sample, seed));
    assert.ok(boxes.length > 0);
    assert.equal(poster.source, `synthetic-${seed}.png`);
    assert.equal(poster.contentHash, `hash-${seed}`, 'the cache key stays the original file\'s hash');
    const mask = buildMask(sample.width, sample.height, boxes, cleaner.settings.dilate);
    let changedOutside = 0;
    let masked = 0;
    for (let p = 0; p < mask.length; p++) {
      masked += mask[p]!;
      if (!mask[p]) for (let c = 0; c < 3; c++) if (poster.pixels[p * 3 + c] !== sample.pixels[p * 3 + c]) changedOutside++;
    }
    assert.equal(changedOutside, 0);
    assert.equal(maskedPixels, masked);
    // The glyphs are gone: in-painted pixels are close to the artwork under the text.
    let error = 0;
    for (let p = 0; p < mask.length; p++) if (mask[p]) for (let c = 0; c < 3; c++) error += Math.abs(poster.pixels[p * 3 + c]! - sample.background[p * 3 + c]!);
    assert.ok(error / (masked * 3) < 15, `seed ${seed}: mean in-painting error ${(error / (masked * 3)).toFixed(1)}`);
    truth += sample.boxes.length;
    refound += matchBoxes(sample.boxes, await cleaner.detector.detect(poster), 0.5).matched;
  }
  assert.ok(refound / truth <= 0.1, `${refound} of ${truth} lines found again`);
});

test('a poster without text comes back untouched, the same object', async () => {
  const sample = await renderTextPoster(207);
  const poster: Poster = { source: 'plain', contentHash: 'h', width: sample.width, height: sample.height, pixels: sample.background };
  const result = await cleaner.clean(poster);
  assert.equal(result.boxes.length, 0);
  assert.equal(result.maskedPixels, 0);
  assert.equal(result.poster, poster);
});

test('the cleaner id names the detector file and every setting, so caches never mix', async () => {
  assert.match(cleaner.id, /^clean-ppocr-v4-det-30a86f573118-p2-s640u2-b0\.3-0\.6-1\.5-d2-r5$/);
  const wider = await loadCleaner({ dilate: 4, detectSide: 448 }, OFFLINE);
  try {
    assert.notEqual(wider.id, cleaner.id);
    assert.match(wider.id, /-s448u2-.*-d4-r5$/);
    assert.equal(wider.settings.dilate, 4);
  } finally {
    await wider.release();
  }
});

test('bad settings are clear errors before any model is loaded', async () => {
  await assert.rejects(loadCleaner({ dilate: -1 }, OFFLINE), isError('INVALID_ARGUMENT'));
  await assert.rejects(loadCleaner({ radius: 0 }, OFFLINE), isError('INVALID_ARGUMENT'));
  await assert.rejects(loadCleaner({ detector: 'tesseract' }, OFFLINE), isError('INVALID_ARGUMENT'));
});

test('detected boxes are cached by content hash and size: a second cleaner in-paints the same pixels without a new line', async () => {
  const dir = await makeTempDir('posterscope-boxes-');
  try {
    const sample = await renderTextPoster(208, { width: 224, height: 320 });
    const poster = asPoster(sample, 208);
    const first = await loadCleaner({}, { ...OFFLINE, boxCacheDir: dir.path });
    const a = await first.clean(poster);
    await first.release();
    const files = await readdir(dir.path);
    assert.deepEqual(files, ['ppocr-v4-det-30a86f573118-p2-s640u2-b0.3-0.6-1.5.jsonl']);
    const file = `${dir.path}/${files[0]}`;
    assert.equal((await readFile(file, 'utf8')).trim().split('\n').length, 1);
    // Another dilation reuses the boxes (they do not depend on it); a torn line is skipped.
    await appendFile(file, '{"k":"torn');
    const second = await loadCleaner({ dilate: 2 }, { ...OFFLINE, boxCacheDir: dir.path });
    const b = await second.clean(poster);
    const otherHash = await second.clean({ ...poster, contentHash: 'other' });
    await second.release();
    assert.deepEqual(b.boxes, a.boxes);
    assert.ok(b.poster.pixels.equals(a.poster.pixels));
    assert.deepEqual(otherHash.boxes, a.boxes);
    const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
    assert.equal(lines.length, 3, 'first poster, torn line, then the new hash on a line of its own');
    assert.match(lines[2]!, /^\{"k":"other:224x320"/);
  } finally {
    await dir.remove();
  }
});

test('the box cache keeps slanted boxes\' corners at full precision', async () => {
  const dir = await makeTempDir('posterscope-boxes-');
  try {
    const poster = { contentHash: 'abc', width: 224, height: 320 };
    const quad: Array<[number, number]> = [[10.123456789, 20], [90, 48.5], [85.25, 62], [5.5, 33.75]];
    const boxes = [{ x0: 5.5, y0: 20, x1: 90, y1: 62, score: 0.8123456789, quad }, { x0: 1, y0: 2, x1: 3, y1: 4, score: 0.7 }];
    new BoxCache(dir.path, 'k').put(poster, boxes);
    const again = new BoxCache(dir.path, 'k');
    assert.equal(again.size, 1);
    assert.deepEqual(again.get(poster), boxes);
    assert.equal(again.get({ ...poster, width: 448 }), undefined, 'another decoded size is another entry');
  } finally {
    await dir.remove();
  }
});
