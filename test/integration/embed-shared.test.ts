/**
 * The real thing: MobileNetV2-int8 resolved through the mirror setting, real
 * posters from ../shared, the built CLI.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { loadBackbone, type Backbone } from '../../src/backbone/backbone.js';
import { EmbeddingCache, embeddingKey } from '../../src/embed/cache.js';
import { type EmbeddedPoster, embedPosters } from '../../src/embed/pipeline.js';
import { normalizationTables, parseViews, writeCrop } from '../../src/image/views.js';
import { CLI, runCli } from '../helpers/cli.js';
import { type TempDir, makeTempDir } from '../helpers/images.js';
import { MODELS, POSTERS, UNLABELED, skipWithoutShared } from '../helpers/shared.js';

let dir: TempDir;
let backbone: Backbone;
let posters: string[];

before(async () => {
  if (skipWithoutShared) return;
  dir = await makeTempDir('posterscope-int-');
  posters = (await readdir(POSTERS)).sort().slice(0, 40).map((f) => join(POSTERS, f));
  backbone = await loadBackbone('mobilenetv2', { mirrors: [MODELS], cacheDir: dir.file('lib-cache'), offline: true });
});

after(async () => {
  await backbone?.release();
  await dir?.remove();
});

test('mobilenetv2 from the mirror gives 1280-d pooled features that tell posters apart', { skip: skipWithoutShared }, async () => {
  assert.equal(backbone.fingerprint, 'mobilenetv2-83530ad811bc31d2');
  const results: EmbeddedPoster[] = [];
  await embedPosters(posters, { backbone, views: parseViews('native,tiles-2x'), keepVectors: true, onPoster: (r) => results.push(r) });
  assert.equal(results.length, posters.length);
  assert.ok(results.every((r) => !r.error));
  const vectors = results.map((r) => r.vectors!.get('native')!);
  for (const v of vectors) {
    assert.equal(v.length, 1280);
    // Pooled ReLU6 activations: non-negative, bounded by 6, and not all zero.
    assert.ok(v.every((x) => x >= 0 && x <= 6.01));
    assert.ok(v.filter((x) => x > 0).length > 100);
  }
  const cosine = (a: Float32Array, b: Float32Array) => {
    let dot = 0, na = 0, nb = 0;
    for (let i = 0; i < a.length; i++) {
      dot += a[i]! * b[i]!;
      na += a[i]! ** 2;
      nb += b[i]! ** 2;
    }
    return dot / Math.sqrt(na * nb);
  };
  // A poster's own zoomed tiles look more like it than other posters do, on average.
  let own = 0, other = 0;
  results.forEach((r, i) => {
    own += cosine(r.vectors!.get('native')!, r.vectors!.get('tiles-2x')!);
    other += cosine(r.vectors!.get('native')!, results[(i + 1) % results.length]!.vectors!.get('tiles-2x')!);
  });
  assert.ok(own > other, `own ${own / results.length} vs other ${other / results.length}`);
});

test('a new user embeds posters through the mirror setting with the CLI, and re-runs are free', { skip: skipWithoutShared }, async () => {
  const env = { POSTERSCOPE_CACHE: dir.file('cli-cache'), POSTERSCOPE_MIRROR: MODELS };
  const first = await runCli(['embed', ...posters, '--json'], { env });
  assert.equal(first.code, 0, first.stderr);
  const report = JSON.parse(first.stdout);
  assert.deepEqual([report.embedded, report.failed, report.passes], [posters.length, 0, posters.length]);
  const second = JSON.parse((await runCli(['embed', ...posters, '--json'], { env })).stdout);
  assert.deepEqual([second.fromCache, second.passes], [posters.length, 0]);
});

test('embed --data labels.csv --images DIR finds every labelled poster', { skip: skipWithoutShared }, async () => {
  const ids = posters.slice(0, 10).map((p) => p.split('/').pop()!.replace('.jpg', ''));
  const csv = await dir.write('labels.csv', `Id,Genre\n${ids.map((id) => `${id},"['Drama']"`).join('\n')}\ntt_missing,"['Drama']"\n`);
  const result = await runCli(['embed', '--data', csv, '--images', POSTERS, '--json'], {
    env: { POSTERSCOPE_CACHE: dir.file('cli-cache'), POSTERSCOPE_MIRROR: MODELS },
  });
  assert.equal(result.code, 1, 'a row without an image is reported');
  assert.match(result.stderr, /1 row of .*labels\.csv has no image.*tt_missing/);
  assert.equal(JSON.parse(result.stdout).failed, 1);
  assert.equal(JSON.parse(result.stdout).fromCache, 10);
});

test('a run killed mid-way resumes without losing or corrupting finished work', { skip: skipWithoutShared }, async () => {
  const files = (await readdir(UNLABELED)).sort().slice(0, 400).map((f) => join(UNLABELED, f));
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, POSTERSCOPE_CACHE: dir.file('kill-cache'), POSTERSCOPE_MIRROR: MODELS };
  const child = spawn(process.execPath, [CLI, 'embed', ...files, '--views', 'native,tiles-1.5x', '--quiet'], { env, stdio: 'ignore' });
  const segmentDir = async () => {
    const root = join(dir.file('kill-cache'), 'embeddings');
    const [sub] = await readdir(root).catch(() => []);
    return sub ? join(root, sub) : undefined;
  };
  // Wait until some vectors are on disk, then kill without warning.
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const d = await segmentDir();
    const segs = d ? await readdir(d) : [];
    if (segs.length > 0 && (await stat(join(d!, segs[0]!))).size > 100_000) break;
    assert.equal(child.exitCode, null, 'the run ended before it could be killed');
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.once('close', r));

  const partial = await EmbeddingCache.open({ dir: dir.file('kill-cache'), fingerprint: backbone.fingerprint, dim: 1280 });
  const saved = partial.size;
  partial.close();
  assert.ok(saved > 0 && saved < files.length * 2, `some but not all vectors saved (${saved})`);

  const resumed = await runCli(['embed', ...files, '--views', 'native,tiles-1.5x', '--json'], { env });
  assert.equal(resumed.code, 0, resumed.stderr);
  const report = JSON.parse(resumed.stdout);
  assert.ok(report.fromCache > 0 && report.embedded > 0, JSON.stringify(report));
  assert.equal(report.fromCache + report.embedded, files.length);

  // Every vector, resumed or not, equals what an uninterrupted run computes.
  const cache = await EmbeddingCache.open({ dir: dir.file('kill-cache'), fingerprint: backbone.fingerprint, dim: 1280 });
  const clean: EmbeddedPoster[] = [];
  await embedPosters(files.slice(0, 60), { backbone, views: parseViews('native,tiles-1.5x'), keepVectors: true, onPoster: (r) => clean.push(r) });
  for (const r of clean) {
    for (const [view, vector] of r.vectors!) {
      const stored = cache.get(embeddingKey(r.contentHash!, view))!;
      assert.ok(stored, `${r.source} ${view} cached`);
      for (let i = 0; i < vector.length; i++) assert.ok(Math.abs(stored[i]! - vector[i]!) < 1e-5);
    }
  }
  cache.close();
});

/**
 * The straightforward computation the pipeline must reproduce: sharp decodes
 * and resizes (as posterscope did before its lean paths), one crop per backbone
 * pass, a plain mean per view.
 */
async function referenceVectors(file: string, views: Array<'native' | 'tiles-1.5x'>): Promise<Map<string, Float32Array>> {
  const { data, info } = await sharp(await readFile(file), { failOn: 'warning' })
    .autoOrient()
    .resize({ width: 1024, height: 1024, fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const image = () => sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } });
  const size = 224;
  const tables = normalizationTables(backbone.spec.normalization);
  const out = new Map<string, Float32Array>();
  for (const view of views) {
    const crops: Buffer[] = [];
    if (view === 'native') crops.push(await image().resize(size, size, { fit: 'fill', kernel: 'linear' }).raw().toBuffer());
    else {
      const scale = Math.max((1.5 * size) / info.width, size / info.height, size / info.width);
      const [width, height] = [Math.round(info.width * scale), Math.round(info.height * scale)];
      const big = await image().resize(width, height, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
      const offsets = (length: number) => {
        const count = Math.ceil(length / size);
        return length <= size ? [0] : Array.from({ length: count }, (_, i) => Math.round((i * (length - size)) / (count - 1)));
      };
      for (const top of offsets(height)) {
        for (const left of offsets(width)) {
          const crop = Buffer.alloc(size * size * 3);
          for (let y = 0; y < size; y++) big.copy(crop, y * size * 3, ((top + y) * width + left) * 3, ((top + y) * width + left + size) * 3);
          crops.push(crop);
        }
      }
    }
    const mean = new Float32Array(backbone.dim);
    for (const crop of crops) {
      let batch = new Float32Array(backbone.cropSize);
      writeCrop(crop, tables, 'NCHW', batch, 0);
      const { features } = await backbone.run(batch, 1);
      for (let d = 0; d < mean.length; d++) mean[d]! += features[d]!;
    }
    for (let d = 0; d < mean.length; d++) mean[d]! /= crops.length;
    out.set(view, mean);
  }
  return out;
}

test('pipeline vectors equal the straightforward sharp + one-crop-per-pass computation to 1e-5 (native and tiles)', { skip: skipWithoutShared }, async () => {
  // Both shapes of ../shared posters: 224 wide (rows squashed in process) and narrower, 336 tall (rows squashed, then
  // columns widened in process); the reference takes sharp's resize for both.
  const names = (await readdir(POSTERS)).sort();
  const files = [...names.slice(0, 12), ...names.slice(-12)].map((f) => join(POSTERS, f));
  const results: EmbeddedPoster[] = [];
  await embedPosters(files, { backbone, views: parseViews('native,tiles-1.5x'), keepVectors: true, batchSize: 16, onPoster: (r) => results.push(r) });
  const widths = new Set<number>();
  for (const result of results) {
    assert.equal(result.error, undefined);
    widths.add((await sharp(result.source).metadata()).width);
    const reference = await referenceVectors(result.source, ['native', 'tiles-1.5x']);
    for (const [view, expected] of reference) {
      const actual = result.vectors!.get(view)!;
      let worst = 0;
      for (let d = 0; d < expected.length; d++) worst = Math.max(worst, Math.abs(actual[d]! - expected[d]!));
      assert.ok(worst <= 1e-5, `${result.source} ${view}: max |difference| ${worst}`);
    }
  }
  assert.ok(widths.has(224) && widths.size > 1, `posters of both shapes (${[...widths].join(', ')})`);
});
