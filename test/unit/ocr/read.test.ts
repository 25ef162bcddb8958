/**
 * Reading posters end to end in the library: detector + recogniser on
 * synthetic posters with known text, reading order, the text cache (and the
 * box cache shared with `clean`), files that cannot be read.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { BoxCache } from '../../../src/ocr/box-cache.js';
import { type PosterReader, loadPosterReader, readPosterFiles, readPosterText, readingOrder } from '../../../src/ocr/read.js';
import type { Poster } from '../../../src/image/poster.js';
import { isError } from '../../helpers/errors.js';
import { type TempDir, makeTempDir } from '../../helpers/images.js';
import { addScores, normalizeSpaces, scoreReading, titleFound } from '../../helpers/read-metrics.js';
import { renderTextPoster } from '../../helpers/text-posters.js';

const OFFLINE = { mirrors: [], offline: true };
let reader: PosterReader;
let dir: TempDir;

before(async () => {
  dir = await makeTempDir('posterscope-read-');
  reader = await loadPosterReader({}, { ...OFFLINE, cache: false, cacheDir: '/nonexistent-posterscope-cache' });
});

after(async () => {
  await reader?.release();
  await dir?.remove();
});

function asPoster(sample: { pixels: Buffer; width: number; height: number }, seed: number): Poster {
  return { source: `synthetic-${seed}.png`, contentHash: `hash-${seed}`, width: sample.width, height: sample.height, pixels: sample.pixels };
}

const box = (x0: number, y0: number, x1: number, y1: number) => ({ x0, y0, x1, y1, score: 1 });

test('reading order: rows top to bottom, left to right in a row; a small line beside a big one is its own row unless they share half a height', () => {
  assert.deepEqual(readingOrder([box(120, 10, 200, 30), box(10, 80, 90, 95), box(10, 12, 100, 31)]), [[2, 0], [1]]);
  // "THE" small above-left of a big "BIG CHILL": 3 px shared of an 8 px line is not a row.
  assert.deepEqual(readingOrder([box(20, 203, 203, 233), box(19, 198, 40, 206)]), [[1], [0]]);
  assert.deepEqual(readingOrder([]), []);
});

test('the real reader reads synthetic posters with character error rate <= 0.2 and most lines exact', async () => {
  const scores = [];
  for (let seed = 401; seed <= 408; seed++) {
    const sample = await renderTextPoster(seed);
    const { lines, text } = await reader.read(asPoster(sample, seed));
    for (const line of lines) {
      assert.ok(line.confidence >= 0.5 && line.confidence <= 1, JSON.stringify(line));
      assert.ok(line.box.x0 >= 0 && line.box.y0 >= 0 && line.box.x1 <= sample.width && line.box.y1 <= sample.height);
      assert.equal(line.text, line.text.trim());
    }
    // The text is the lines in reading order, and the title is in it.
    assert.equal(normalizeSpaces(text), normalizeSpaces(lines.map((l) => l.text).join(' ')));
    const title = sample.boxes.filter((b) => b.kind === 'title').map((b) => b.text).join(' ');
    assert.ok(titleFound(title, text), `seed ${seed}: "${title}" not in ${JSON.stringify(text)}`);
    scores.push(scoreReading(sample.boxes, lines));
  }
  const total = addScores(scores);
  const cer = total.errors / total.characters;
  assert.ok(cer <= 0.2, `CER ${cer.toFixed(3)}: ${JSON.stringify(total.pairs.filter((p) => p.read !== p.truth))}`);
  assert.ok(total.exactLines / total.lines >= 0.6, `${total.exactLines}/${total.lines} lines exact`);
  assert.ok(total.spurious <= 2, `${total.spurious} lines read where there is no text`);
});

test('a poster without text reads as nothing; a confidence floor of 1 keeps nothing', async () => {
  const sample = await renderTextPoster(409);
  assert.deepEqual(await reader.read({ ...asPoster(sample, 409), pixels: sample.background }), { lines: [], text: '' });
  assert.deepEqual(await reader.read(asPoster(sample, 409), { minConfidence: 1 }), { lines: [], text: '' });
  await assert.rejects(reader.read(asPoster(sample, 409), { minConfidence: 1.5 }), isError('INVALID_ARGUMENT', 'minConfidence'));
  await assert.rejects(reader.read(42 as never), isError('INVALID_ARGUMENT', 'poster'));
});

test('read text is cached by content hash: a reader whose models are released still answers from the cache, at any confidence floor', async () => {
  const cacheDir = dir.file('cache');
  const sample = await renderTextPoster(410);
  const poster = asPoster(sample, 410);
  const first = await loadPosterReader({}, { ...OFFLINE, cacheDir });
  const all = await first.read(poster, { minConfidence: 0 });
  const kept = await first.read(poster);
  await first.release();
  assert.ok(all.lines.length > 0 && all.lines.length >= kept.lines.length);
  assert.deepEqual(await readdir(dir.file('cache/text')), [`${first.id}.jsonl`]);
  assert.deepEqual(await readdir(dir.file('cache/boxes')), [`${first.detector.id}.jsonl`]);

  const second = await loadPosterReader({}, { ...OFFLINE, cacheDir });
  await second.release();
  // Released models cannot run: these answers can only come from the cache.
  assert.deepEqual(await second.read(poster, { minConfidence: 0 }), all);
  assert.deepEqual(await second.read(poster), kept);
  await assert.rejects(second.read({ ...poster, contentHash: 'not-cached' }), isError('INVALID_ARGUMENT', undefined, /released/));

  // A torn last line (a crash mid-write) is skipped, the next entry starts on a line of its own.
  const file = dir.file(`cache/text/${first.id}.jsonl`);
  await writeFile(file, `${await readFile(file, 'utf8')}{"k":"torn`);
  const third = await loadPosterReader({}, { ...OFFLINE, cacheDir });
  try {
    assert.deepEqual(await third.read(poster, { minConfidence: 0 }), all);
    await third.read(asPoster(await renderTextPoster(411), 411));
  } finally {
    await third.release();
  }
  const lines = (await readFile(file, 'utf8')).trim().split('\n');
  assert.equal(lines.length, 3);
  assert.doesNotThrow(() => JSON.parse(lines[2]!));
});

test('boxes cached by the detector (as `clean` leaves them) are read without detecting again', async () => {
  const cacheDir = dir.file('shared-boxes');
  const sample = await renderTextPoster(412);
  const poster = asPoster(sample, 412);
  const title = sample.boxes.find((b) => b.kind === 'title')!;
  const probe = await loadPosterReader({}, { ...OFFLINE, cacheDir });
  // Only the title's box is "known": the reader must read it and nothing else.
  new BoxCache(dir.file('shared-boxes/boxes'), probe.detector.id).put(poster, [{ x0: title.x0 - 4, y0: title.y0 - 4, x1: title.x1 + 4, y1: title.y1 + 4, score: 0.9 }]);
  await probe.release();
  const fresh = await loadPosterReader({}, { ...OFFLINE, cacheDir });
  try {
    const { lines } = await fresh.read(poster);
    assert.equal(lines.length, 1);
    assert.ok(titleFound(title.text, lines[0]!.text), JSON.stringify(lines));
  } finally {
    await fresh.release();
  }
});

test('poster files: one result each, in order; a missing or corrupt file gets its error and the others are read', async () => {
  const sample = await renderTextPoster(413);
  await writeFile(dir.file('good.png'), sample.png);
  await writeFile(dir.file('bad.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
  const errors: string[] = [];
  const results = await readPosterFiles([dir.file('bad.jpg'), dir.file('good.png'), dir.file('missing.png')], { reader, onError: (e) => errors.push(e.code) });
  assert.deepEqual(results.map((r) => r.input), [dir.file('bad.jpg'), dir.file('good.png'), dir.file('missing.png')]);
  assert.equal(results[0]!.error?.code, 'IMAGE_CORRUPT');
  assert.equal(results[2]!.error?.code, 'IMAGE_NOT_FOUND');
  assert.deepEqual(errors, ['IMAGE_CORRUPT', 'IMAGE_NOT_FOUND']);
  assert.equal(results[1]!.error, undefined);
  const title = sample.boxes.filter((b) => b.kind === 'title').map((b) => b.text).join(' ');
  assert.ok(titleFound(title, results[1]!.text), results[1]!.text);
  // The one-call form reads a file path with a reader of its own, or with the one given.
  assert.deepEqual(await readPosterText(dir.file('good.png'), { reader }), { lines: results[1]!.lines, text: results[1]!.text });
  const own = await readPosterText(dir.file('good.png'), { ...OFFLINE, cache: false, minConfidence: 0.9 });
  assert.ok(own.lines.every((l) => l.confidence >= 0.9) && own.lines.length <= results[1]!.lines.length);
});
