import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { type Backbone, loadBackbone } from '../../../src/backbone/backbone.js';
import { getBackboneSpec } from '../../../src/backbone/registry.js';
import { EmbeddingCache } from '../../../src/embed/cache.js';
import { type EmbeddedPoster, embedPosters } from '../../../src/embed/pipeline.js';
import { parseViews } from '../../../src/image/views.js';
import { type TempDir, makeTempDir } from '../../helpers/images.js';
import { tinyBackbone, tinyWeight } from '../../helpers/onnx-models.js';

let dir: TempDir;
let backbone: Backbone;
const colours: Array<[number, number, number]> = [
  [200, 220, 240],
  [240, 200, 180],
  [180, 190, 250],
  [250, 250, 250],
  [210, 230, 200],
];
let posters: string[];

before(async () => {
  dir = await makeTempDir('posterscope-pipeline-');
  // A MobileNetV2-shaped row (quantised internal feature) with a tiny graph behind it.
  const { row, path } = await tinyBackbone(dir.path, { ...getBackboneSpec('mobilenetv2'), feature: { ...getBackboneSpec('mobilenetv2').feature, dim: 4 } });
  backbone = await loadBackbone(row, { path, cacheDir: dir.file('cache'), offline: true });
  posters = await Promise.all(
    colours.map(async ([r, g, b], i) =>
      dir.write(`p${i}.png`, await sharp({ create: { width: 40, height: 60, channels: 3, background: { r, g, b } } }).png().toBuffer()),
    ),
  );
});

after(async () => {
  await backbone.release();
  await dir.remove();
});

/** What the tiny graph computes for a flat colour: feature j = sum_c norm(c) * w(c, j), quantised to 0.05 (negatives clamp to 0). */
function expected([r, g, b]: [number, number, number]): number[] {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const norm = [r, g, b].map((v, c) => (v / 255 - mean[c]!) / std[c]!);
  return [0, 1, 2, 3].map((j) => Math.max(0, norm.reduce((s, v, c) => s + v * tinyWeight(c, j), 0)));
}

test('embeds every view of every poster, then serves all of it from the cache', async () => {
  const cache = await EmbeddingCache.open({ dir: dir.file('cache'), fingerprint: backbone.fingerprint, dim: backbone.dim });
  const results: EmbeddedPoster[] = [];
  const views = parseViews('full,tiles-2x,crop-top');
  const first = await embedPosters(posters, { backbone, views, cache, batchSize: 4, keepVectors: true, onPoster: (r) => results.push(r) });
  assert.equal(first.embedded, 5);
  assert.equal(first.fromCache, 0);
  assert.equal(first.passes, 5 * (1 + 6 + 1), 'full + 6 tiles + top crop per 2:3 poster');
  results.sort((a, b) => a.index - b.index);
  results.forEach((result, i) => {
    for (const view of ['full', 'tiles-2x', 'crop-top']) {
      const vector = result.vectors!.get(view)!;
      expected(colours[i]!).forEach((value, j) => assert.ok(Math.abs(vector[j]! - value) <= 0.05, `${view}[${j}] ${vector[j]} vs ${value}`));
    }
  });
  cache.close();

  const reopened = await EmbeddingCache.open({ dir: dir.file('cache'), fingerprint: backbone.fingerprint, dim: backbone.dim });
  const again: EmbeddedPoster[] = [];
  const second = await embedPosters(posters, { backbone, views, cache: reopened, keepVectors: true, onPoster: (r) => again.push(r) });
  assert.deepEqual([second.embedded, second.fromCache, second.passes], [0, 5, 0]);
  again.sort((a, b) => a.index - b.index);
  again.forEach((r, i) => assert.deepEqual(r.vectors!.get('tiles-2x'), results[i]!.vectors!.get('tiles-2x')));

  // A new view only computes that view.
  const third = await embedPosters(posters, { backbone, views: parseViews('full,crop-bottom'), cache: reopened });
  assert.deepEqual([third.embedded, third.passes], [5, 5]);
  reopened.close();
});

test('one unreadable poster gets its error and the rest are embedded', async () => {
  const bad = await dir.write('bad.jpg', 'this is not a jpeg');
  const results: EmbeddedPoster[] = [];
  const summary = await embedPosters([posters[0]!, bad, dir.file('missing.png'), posters[1]!], {
    backbone,
    views: parseViews('full'),
    onPoster: (r) => results.push(r),
  });
  assert.deepEqual([summary.embedded, summary.failed], [2, 2]);
  const errors = results.filter((r) => r.error).map((r) => r.error!.code).sort();
  assert.deepEqual(errors, ['IMAGE_NOT_FOUND', 'IMAGE_UNSUPPORTED']);
});

test('BAD CALL - decode options out of range: the run is refused once, with the option named, before any poster is read', async () => {
  const results: EmbeddedPoster[] = [];
  const refused = await embedPosters([posters[0]!, posters[1]!], { backbone, views: parseViews('full'), decode: { maxSide: 0 }, onPoster: (r) => results.push(r) }).catch(
    (error: unknown) => error,
  );
  assert.ok(refused instanceof Error && 'code' in refused && refused.code === 'INVALID_ARGUMENT', String(refused));
  assert.match(refused.message, /for maxSide but received number 0/);
  assert.equal(results.length, 0);
});

test('identical bytes under two names are one cache entry', async () => {
  const { readFile } = await import('node:fs/promises');
  const copy = await dir.write('copy-of-p0.png', await readFile(posters[0]!));
  const cache = await EmbeddingCache.open({ dir: dir.file('cache-dup'), fingerprint: backbone.fingerprint, dim: backbone.dim });
  const summary = await embedPosters([posters[0]!, copy], { backbone, views: parseViews('full'), cache, prefetch: 1 });
  assert.equal(summary.embedded + summary.fromCache, 2);
  assert.equal(cache.size, 1);
  cache.close();
});

test('a 10x10000 strip gets a one-line IMAGE_UNSUPPORTED with its aspect ratio; the other posters are embedded', async () => {
  const strip = await dir.write('strip.png', await sharp({ create: { width: 10, height: 10000, channels: 3, background: { r: 9, g: 9, b: 9 } } }).png().toBuffer());
  const results: EmbeddedPoster[] = [];
  const summary = await embedPosters([posters[0]!, strip], { backbone, views: parseViews('native,tiles-2x'), onPoster: (r) => results.push(r) });
  assert.deepEqual([summary.embedded, summary.failed, summary.passes], [1, 1, 1 + 6]);
  const error = results.find((r) => r.error)!.error!;
  assert.equal(error.code, 'IMAGE_UNSUPPORTED');
  assert.match(error.message, /strip\.png: aspect ratio 1024:1 \(1x1024 decoded\) is beyond 8:1/);
  assert.ok(!error.message.includes('\n'));
});

test('a run makes with its first batch the spare batches it will fill (their pages faulted in meanwhile), and no more', async () => {
  const made: number[] = [];
  const madeAtFirstRun: number[] = [];
  // A view of the backbone that counts the batches made for it (the pool is the backbone object's own),
  // and how many there were when the first batch went to inference.
  const counting = (): Backbone => ({
    ...backbone,
    createBatch: (crops: number) => (made.push(crops), backbone.createBatch(crops)),
    run: (batch, crops) => (madeAtFirstRun.push(made.length), backbone.run(batch, crops)),
  });
  const limit = Math.max(1, backbone.parallelism) + 1;
  const views = parseViews('single');
  // 5 posters, one pass each, batches of 2: 3 batches wanted.
  const many = counting();
  await embedPosters(posters, { backbone: many, views, batchSize: 2 });
  assert.deepEqual(made, Array(Math.min(limit, 3)).fill(2));
  assert.equal(madeAtFirstRun[0], Math.min(limit, 3), 'all made before the first batch ran');
  assert.equal((await embedPosters(posters, { backbone: many, views, batchSize: 2 })).passes, 5);
  assert.equal(made.length, Math.min(limit, 3), 'kept between runs');
  // One poster, one pass: one batch, no spare.
  made.length = 0;
  await embedPosters(posters.slice(0, 1), { backbone: counting(), views, batchSize: 2 });
  assert.deepEqual(made, [2]);
  // All cached: no batch at all.
  made.length = 0;
  const cache = await EmbeddingCache.open({ dir: dir.file('spares-cache'), fingerprint: backbone.fingerprint, dim: backbone.dim });
  await embedPosters(posters, { backbone, views, batchSize: 2, cache });
  assert.equal((await embedPosters(posters, { backbone: counting(), views, batchSize: 2, cache })).fromCache, 5);
  assert.deepEqual(made, []);
  cache.close();
});
